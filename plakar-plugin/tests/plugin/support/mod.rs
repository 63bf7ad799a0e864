//! Support for the plugin's tests that is theirs alone: the plugin over its
//! pipes, and the package plakar installs. The plakar CLI in a throwaway
//! home, generated trees and network isolation come from `kloset-testkit`.

pub mod grpc;
pub mod package;
pub mod slow;
