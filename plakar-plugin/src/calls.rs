//! The store calls in flight, so that `Close` and the end of plakar's
//! connection let them finish; and an optional trace of every call.
//!
//! plakar v1.1.4 deletes a command's lock from a background goroutine that
//! nobody waits for (kloset's `snapshot.Builder.Lock`, plakar's
//! `maintenance.Lock`): the Delete reaches us just before `Close`, and
//! plakar exits, closing our stdin (and killing us when its context's
//! cancellation gets there first), as soon as `Close` is answered. An
//! unlink on plakar's `fs` store is over by then; our Delete is an HTTP
//! exchange still under way. So `Close` is answered, and the process ends,
//! only once the calls already received are done (each wait bounded by
//! [`FINISH_WAIT`]).
//!
//! Trace: with `KLOSET_OCI_PLAKAR_TRACE=1` in plakar's environment, each
//! call's start and end, the end of stdin and the exit are written to
//! stderr (plakar's), with milliseconds since the plugin started. Off by
//! default; stdout is the gRPC stream and never carries any of it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kloset_host::Error;
use tokio::sync::watch;
use tonic::Status;

/// The longest `Close`, and the process's exit, wait for calls in flight.
/// A lock's Delete takes milliseconds; a registry that hangs must not keep
/// plakar from exiting for the store's own 600 s deadline.
pub const FINISH_WAIT: Duration = Duration::from_secs(10);

/// The environment variable that turns the trace on (any value but empty
/// or `0`).
pub const TRACE_ENV: &str = "KLOSET_OCI_PLAKAR_TRACE";

/// The calls in flight. Cloned, it counts the same calls.
#[derive(Clone)]
pub struct Calls {
    count: watch::Sender<usize>,
}

impl Default for Calls {
    fn default() -> Self {
        Calls {
            count: watch::Sender::new(0),
        }
    }
}

impl Calls {
    /// A call starts: it counts as in flight until the returned guard is
    /// dropped. `what` names it in the trace.
    pub fn begin(&self, what: impl fmt::Display) -> Call {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        self.count.send_modify(|n| *n += 1);
        let label = tracing().then(|| what.to_string());
        if let Some(label) = &label {
            trace(format_args!("#{id} {label}: start"));
        }
        Call {
            count: self.count.clone(),
            id,
            label,
            started: Instant::now(),
            outcome: None,
        }
    }

    /// How many calls are in flight.
    pub fn in_flight(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until no call is in flight, at most `limit`; returns how many
    /// still are.
    pub async fn finished(&self, limit: Duration) -> usize {
        let mut count = self.count.subscribe();
        let _ = tokio::time::timeout(limit, count.wait_for(|n| *n == 0)).await;
        self.in_flight()
    }
}

/// One call in flight; it ends when dropped. Kept by the blocking store
/// call, not by the handler alone: hyper drops a handler whose stream plakar
/// reset, while the store call it started runs on.
pub struct Call {
    count: watch::Sender<usize>,
    id: u64,
    /// `None` when the trace is off.
    label: Option<String>,
    started: Instant,
    outcome: Option<String>,
}

impl Call {
    /// Records how the call ended, for the trace.
    pub fn outcome(&mut self, outcome: &impl Outcome) {
        if self.label.is_some() {
            self.outcome = Some(outcome.describe());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(label) = &self.label {
            let outcome = self.outcome.as_deref().unwrap_or("dropped unfinished");
            trace(format_args!(
                "#{} {label}: {outcome} after {:.1} ms",
                self.id,
                self.started.elapsed().as_secs_f64() * 1e3
            ));
        }
        // Last: whoever waits for the calls to finish goes on from here.
        self.count.send_modify(|n| *n -= 1);
    }
}

/// How a call ended, in a few words for the trace.
pub trait Outcome {
    fn describe(&self) -> String;
}

impl<T> Outcome for Result<T, Error> {
    fn describe(&self) -> String {
        match self {
            Ok(_) => "ok".into(),
            Err(e) => format!("failed: {e}"),
        }
    }
}

impl<T> Outcome for Result<T, Status> {
    fn describe(&self) -> String {
        match self {
            Ok(_) => "ok".into(),
            Err(status) => format!("failed: {}", status.message()),
        }
    }
}

/// When the trace's clock started, if the trace is on.
fn trace_start() -> Option<Instant> {
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    *START.get_or_init(|| {
        std::env::var_os(TRACE_ENV)
            .filter(|v| !v.is_empty() && v != "0")
            .map(|_| Instant::now())
    })
}

/// Whether the trace is on.
pub fn tracing() -> bool {
    trace_start().is_some()
}

/// Writes one trace line to stderr, if the trace is on.
pub fn trace(line: fmt::Arguments<'_>) {
    if let Some(start) = trace_start() {
        eprintln!(
            "kloset-oci-plakar trace +{:.3} ms: {line}",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_counts_until_its_guard_is_dropped() {
        let calls = Calls::default();
        let first = calls.begin("first");
        let second = calls.clone().begin("second");
        assert_eq!(calls.in_flight(), 2);
        drop(first);
        assert_eq!(calls.finished(Duration::from_millis(10)).await, 1);
        let waiter = {
            let calls = calls.clone();
            tokio::spawn(async move { calls.finished(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(second);
        assert_eq!(waiter.await.unwrap(), 0);
    }
}
