//! Nothing: this package's work is its three test binaries (`store/`,
//! `faults/`, `host/`); see docs/testing.md.
