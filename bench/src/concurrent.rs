//! Driving one workload from many threads at once: per-thread callers,
//! warmed up before a common start, timed from that start to the last
//! thread's end, with the requests counted in between.

use std::sync::Barrier;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::measure::Samples;
use crate::paths::{Caller, Path};
use crate::workloads::warm_up;
use crate::BenchError;

/// How a concurrent run is driven: per-thread state built before the
/// common start, the timed operation, and an untimed check of its result
/// that returns the payload bytes it moved.
pub(crate) struct Concurrent<S, O, Setup, Op, After>
where
    Setup: Fn(usize) -> S + Sync,
    Op: Fn(&mut dyn Caller, &mut S, usize) -> Result<O, BenchError> + Sync,
    After: Fn(usize, O) -> Result<u64, BenchError> + Sync,
{
    pub(crate) setup: Setup,
    pub(crate) op: Op,
    pub(crate) after: After,
    pub(crate) _types: std::marker::PhantomData<fn() -> (S, O)>,
}

/// Runs operations `0..total` on `callers` threads (thread `t` takes
/// `t, t + callers, ...`), each with its own caller, warmed up before a
/// common start. The wall time runs from the common start to the last
/// thread's end; requests are counted between the two.
pub(crate) fn concurrently<S, O, Setup, Op, After>(
    path: &dyn Path,
    requests: &(dyn Fn() -> u64 + Sync),
    callers: usize,
    total: usize,
    run: Concurrent<S, O, Setup, Op, After>,
) -> Result<Samples, BenchError>
where
    Setup: Fn(usize) -> S + Sync,
    Op: Fn(&mut dyn Caller, &mut S, usize) -> Result<O, BenchError> + Sync,
    After: Fn(usize, O) -> Result<u64, BenchError> + Sync,
{
    // Two meetings: all warmed up, then the counter read, then go.
    let warmed = Barrier::new(callers + 1);
    let go = Barrier::new(callers + 1);
    let (start, first_request, results) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..callers)
            .map(|t| {
                let (warmed, go, run) = (&warmed, &go, &run);
                scope.spawn(move || -> Result<(Samples, Instant), BenchError> {
                    let mut caller = path.caller();
                    let mut rng = SmallRng::seed_from_u64(200 + t as u64);
                    let ready = warm_up(caller.as_mut(), &mut rng);
                    let mut state = (run.setup)(t);
                    warmed.wait();
                    go.wait();
                    ready?;
                    let mut samples = Samples::default();
                    for i in (t..total).step_by(callers) {
                        let out = samples.time(|| (run.op)(caller.as_mut(), &mut state, i))?;
                        samples.bytes += (run.after)(i, out)?;
                    }
                    Ok((samples, Instant::now()))
                })
            })
            .collect();
        warmed.wait();
        let first_request = requests();
        go.wait();
        let start = Instant::now();
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("a bench thread panicked"))
            .collect();
        (start, first_request, results)
    });
    let mut all = Samples::default();
    let mut end = start;
    for result in results {
        let (samples, finished) = result?;
        end = end.max(finished);
        all.merge(samples);
    }
    all.wall = end - start;
    all.requests = requests() - first_request;
    Ok(all)
}
