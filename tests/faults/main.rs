//! The store when the network or the registry misbehaves, through the
//! wasmtime host with a fault proxy (`kloset_testkit::faults`) in front of a
//! real registry: broken exchanges and retries (`faults`), hostile answers
//! (`hostile`), each upload mode's requests and recoveries (`uploads`), and
//! a registry whose disk is full (`disk`).

mod disk;
mod faults;
mod hostile;
mod uploads;
