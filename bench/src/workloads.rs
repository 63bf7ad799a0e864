//! The workloads, shaped like Kloset's (FIELD-NOTES section 1). Each runs
//! on both paths in the same run, in fresh repositories of the same
//! registry; single-caller workloads alternate the paths operation by
//! operation (and which goes first), so drift in the machine's load falls
//! on both alike. Every byte read back is checked, outside the timing.

use kloset_host::{Mac, Plugin, Resource, StoreHandle};
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};

use crate::concurrent::{concurrently, Concurrent};
use crate::measure::Samples;
use crate::params::Params;
use crate::paths::{Caller, ComponentPath, NativePath, Path};
use crate::report::{Row, Unit, CONCURRENT_PUT, CONCURRENT_RANGED, PUT, RANGED, WHOLE_GET};
use crate::startup::GuestSha256;
use crate::BenchError;

/// `kloset_oci::put::BUFFER_LIMIT`: larger objects are streamed (4 requests).
const BUFFER_LIMIT: usize = 8 << 20;

pub struct Bench<'a> {
    pub plugin: &'a Plugin,
    pub authority: String,
    pub params: Params,
    /// Distinguishes this run's repositories from earlier runs' on a
    /// registry given with `--registry`.
    pub run_id: String,
}

/// Both paths of one workload, each with its own repository unless shared.
struct Pair<'a> {
    component: ComponentPath,
    native_config: Vec<(String, String)>,
    _plugin: &'a Plugin,
}

impl Pair<'_> {
    fn native(&self) -> Result<NativePath<'_>, BenchError> {
        NativePath::new(&self.component.handle, &self.native_config)
    }

    fn requests(&self) -> u64 {
        net_requests(&self.component.handle)
    }
}

/// Requests `handle` sent so far, less attempts that got no answer or a
/// 429/5xx: a loaded registry's retries are not a workload's cost.
fn net_requests(handle: &StoreHandle) -> u64 {
    // Failed ones first: an attempt is counted sent before it can fail, so
    // this order never reads more failed than sent.
    let failed = handle.unanswered_or_transient_requests();
    handle.requests() - failed
}

fn random_mac(rng: &mut impl RngCore) -> Mac {
    let mut mac = [0u8; 32];
    rng.fill_bytes(&mut mac);
    Mac(mac)
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Makes `data` a distinct object: its first 16 bytes name it.
fn stamp(data: &mut [u8], id: u64, path: usize) {
    data[..8].copy_from_slice(&id.to_le_bytes());
    data[8..16].copy_from_slice(&(path as u64).to_le_bytes());
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), BenchError> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::Check(what()))
    }
}

/// Ranges Kloset's restores read: 4 KiB to 1 MiB, spread evenly on a log
/// scale (many metadata-sized, some chunk-sized), at random offsets.
fn ranges(count: usize, object: usize, seed: u64) -> Vec<(u64, u32)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (lo, hi) = ((4u32 << 10) as f64, (1u32 << 20) as f64);
    (0..count)
        .map(|_| {
            let len = (lo * (hi / lo).powf(rng.random::<f64>())) as u32;
            let len = len.min(object as u32);
            let offset = rng.random_range(0..=(object - len as usize) as u64);
            (offset, len)
        })
        .collect()
}

/// Which path goes first in round `i`: each in turn.
fn order(i: usize) -> [usize; 2] {
    if i.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// Opens the store and pushes the empty config blob (a tiny put), so the
/// timed operations of a caller cost what they cost in steady state.
pub(crate) fn warm_up(caller: &mut dyn Caller, rng: &mut impl RngCore) -> Result<(), BenchError> {
    caller.open()?;
    caller.put(Resource::State, &random_mac(rng), b"warm-up")?;
    Ok(())
}

fn streamed_put_requests(size: usize) -> f64 {
    if size > BUFFER_LIMIT {
        4.0
    } else {
        3.0
    }
}

impl Bench<'_> {
    fn config(&self, repository: &str) -> Vec<(String, String)> {
        vec![
            (
                "location".into(),
                format!("oci://{}/{repository}", self.authority),
            ),
            ("use_tls".into(), "false".into()),
        ]
    }

    fn repository(&self, workload: &str, path: &str) -> String {
        format!("kloset-bench/{}/{workload}-{path}", self.run_id)
    }

    /// A fresh repository per path, each created.
    fn pair(&self, workload: &str) -> Result<Pair<'_>, BenchError> {
        let component = ComponentPath::new(
            self.plugin,
            &self.config(&self.repository(workload, "component")),
        )?;
        let pair = Pair {
            component,
            native_config: self.config(&self.repository(workload, "baseline")),
            _plugin: self.plugin,
        };
        pair.component.caller().create(b"kloset-bench")?;
        pair.native()?.caller().create(b"kloset-bench")?;
        Ok(pair)
    }

    /// Puts of large packfiles, then whole verified gets of them, then
    /// ranged gets in the first of them.
    /// `sha` is timed hashing one object's size in the guest after each
    /// pair of puts and of gets; returns its speed in MiB/s too.
    pub fn large_objects(&self, sha: &mut GuestSha256) -> Result<([Row; 3], f64), BenchError> {
        let mut hashing = std::time::Duration::ZERO;
        let object_mib = (self.params.large_size >> 20).max(1) as u32;
        let mut hashed_mib = 0u64;
        let p = &self.params;
        let pair = self.pair("large")?;
        let native = pair.native()?;
        let paths: [&dyn Path; 2] = [&pair.component, &native];
        let mut rng = StdRng::seed_from_u64(1);
        let mut callers = [paths[0].caller(), paths[1].caller()];
        for caller in &mut callers {
            warm_up(caller.as_mut(), &mut rng)?;
        }

        let mut data = random_bytes(p.large_size, 2);
        let mut keys: [Vec<Mac>; 2] = Default::default();
        let mut puts: [Samples; 2] = Default::default();
        for i in 0..p.large_count {
            for at in order(i) {
                stamp(&mut data, i as u64, at);
                let mac = random_mac(&mut rng);
                let before = pair.requests();
                let stored = puts[at].time(|| callers[at].put(Resource::Packfile, &mac, &data))?;
                puts[at].requests += pair.requests() - before;
                puts[at].bytes += stored;
                check(stored == data.len() as u64, || {
                    format!("put stored {stored} bytes of {}", data.len())
                })?;
                keys[at].push(mac);
            }
            hashing += sha.hash(object_mib)?.0;
            hashed_mib += u64::from(object_mib);
        }

        let mut gets: [Samples; 2] = Default::default();
        for (i, both) in keys[0].iter().zip(&keys[1]).enumerate() {
            for at in order(i) {
                let key = *[both.0, both.1][at];
                let before = pair.requests();
                let got = gets[at].time(|| callers[at].get(Resource::Packfile, &key, None))?;
                gets[at].requests += pair.requests() - before;
                gets[at].bytes += got.len() as u64;
                stamp(&mut data, i as u64, at);
                check(got == data, || {
                    format!("whole get {i} on {}", paths[at].name())
                })?;
            }
        }

        // Ranged gets in object 0 of each path, which both callers have
        // seen (their blob digest is cached: one request per get).
        let plan = ranges(p.ranged_count, p.large_size, 3);
        let mut ranged: [Samples; 2] = Default::default();
        for (i, &(offset, length)) in plan.iter().enumerate() {
            for at in order(i) {
                let before = pair.requests();
                let got = ranged[at].time(|| {
                    callers[at].get(Resource::Packfile, &keys[at][0], Some((offset, length)))
                })?;
                ranged[at].requests += pair.requests() - before;
                ranged[at].bytes += got.len() as u64;
                stamp(&mut data, 0, at);
                let want = &data[offset as usize..offset as usize + length as usize];
                check(got == want, || {
                    format!("range {offset}+{length} on {}", paths[at].name())
                })?;
            }
        }

        let size = p.large_size as u64;
        let memory = pair.component.guest_peak_memory();
        let sha_mib_per_s = hashed_mib as f64 / hashing.as_secs_f64().max(1e-9);
        Ok((
            [
                Row::new(PUT, 1, Unit::MibPerS, size, &puts, memory)
                    .expecting(streamed_put_requests(p.large_size)),
                Row::new(WHOLE_GET, 1, Unit::MibPerS, size, &gets, memory).expecting(1.0),
                Row::new(RANGED, 1, Unit::OpsPerS, 0, &ranged, memory).expecting(1.0),
            ],
            sha_mib_per_s,
        ))
    }

    /// put / list / get / delete cycles of small locks.
    pub fn lock_cycles(&self) -> Result<Row, BenchError> {
        let p = &self.params;
        let pair = self.pair("locks")?;
        let native = pair.native()?;
        let paths: [&dyn Path; 2] = [&pair.component, &native];
        let mut rng = StdRng::seed_from_u64(4);
        let mut callers = [paths[0].caller(), paths[1].caller()];
        for caller in &mut callers {
            warm_up(caller.as_mut(), &mut rng)?;
        }
        let mut cycles: [Samples; 2] = Default::default();
        let mut lock = vec![0u8; p.lock_size];
        for i in 0..p.lock_cycles {
            for at in order(i) {
                let mac = random_mac(&mut rng);
                rng.fill_bytes(&mut lock);
                let caller = &mut callers[at];
                let before = pair.requests();
                let (listed, got) = cycles[at].time(|| -> Result<_, BenchError> {
                    caller.put(Resource::Lock, &mac, &lock)?;
                    let listed = caller.list(Resource::Lock)?;
                    let got = caller.get(Resource::Lock, &mac, None)?;
                    caller.delete(Resource::Lock, &mac)?;
                    Ok((listed, got))
                })?;
                cycles[at].requests += pair.requests() - before;
                cycles[at].bytes += lock.len() as u64;
                check(listed == [mac], || format!("lock list showed {listed:?}"))?;
                check(got == lock, || "lock read back differs".into())?;
            }
        }
        let memory = pair.component.guest_peak_memory();
        Ok(Row::new(
            "lock cycle (put, list, get, delete)",
            1,
            Unit::OpsPerS,
            p.lock_size as u64,
            &cycles,
            memory,
        )
        // put 3, list 1, get 2, delete 2 by digest; a delete first asks
        // to untag (3 where the registry deletes tags), and distribution
        // 2.8, which does not, refuses that once per store instance: at
        // most 9, about 8 over many cycles on 2.8.
        .expecting_at_most(9.0))
    }

    /// Lists of one repository holding many objects; both paths list the
    /// same repository, filled beforehand by parallel native puts.
    pub fn list(&self) -> Result<Row, BenchError> {
        let p = &self.params;
        let repository = self.repository("list", "shared");
        let component = ComponentPath::new(self.plugin, &self.config(&repository))?;
        component.caller().create(b"kloset-bench")?;
        let native = NativePath::new(&component.handle, &self.config(&repository))?;
        fill(&native, p.list_objects, 8)?;

        let paths: [&dyn Path; 2] = [&component, &native];
        let mut callers = [paths[0].caller(), paths[1].caller()];
        for caller in &mut callers {
            caller.open()?;
        }
        let mut lists: [Samples; 2] = Default::default();
        for i in 0..p.list_runs {
            for at in order(i) {
                let before = net_requests(&component.handle);
                let keys = lists[at].time(|| callers[at].list(Resource::Packfile))?;
                lists[at].requests += net_requests(&component.handle) - before;
                check(keys.len() == p.list_objects, || {
                    format!("list gave {} keys of {}", keys.len(), p.list_objects)
                })?;
            }
        }
        // Tags: every object's, plus the configuration's; one request per
        // 1000 at most (distribution answers them all at once).
        let pages = (p.list_objects + 1).div_ceil(1000).max(1);
        let memory = component.guest_peak_memory();
        Ok(Row::new(
            &format!("list of {} objects", p.list_objects),
            1,
            Unit::OpsPerS,
            0,
            &lists,
            memory,
        )
        .expecting_at_most(pages as f64))
    }

    /// Puts of large packfiles by 1, 2, 4, 8 concurrent callers on one
    /// handle (a fixed total, split evenly).
    pub fn concurrent_puts(&self) -> Result<Vec<Row>, BenchError> {
        let p = &self.params;
        let pair = self.pair("concurrent-put")?;
        let native = pair.native()?;
        let paths: [&dyn Path; 2] = [&pair.component, &native];
        let mut rows = Vec::new();
        for (level, &callers) in p.concurrency.iter().enumerate() {
            let mut samples: [Samples; 2] = Default::default();
            for at in order(level) {
                let requests = || pair.requests();
                samples[at] = concurrently(
                    paths[at],
                    &requests,
                    callers,
                    p.concurrent_puts,
                    Concurrent {
                        setup: |t| random_bytes(p.concurrent_put_size, 300 + t as u64),
                        op: |caller: &mut dyn Caller, data: &mut Vec<u8>, i| {
                            stamp(data, (level * p.concurrent_puts + i) as u64, at);
                            let mac =
                                random_mac(&mut SmallRng::seed_from_u64((level * 1000 + i) as u64));
                            caller.put(Resource::Packfile, &mac, data)
                        },
                        after: |_, stored| Ok(stored),
                        _types: std::marker::PhantomData,
                    },
                )?;
            }
            let memory = pair.component.guest_peak_memory();
            rows.push(
                Row::new(
                    CONCURRENT_PUT,
                    callers,
                    Unit::MibPerS,
                    p.concurrent_put_size as u64,
                    &samples,
                    memory,
                )
                // A caller may land on an instance (or, natively, a store)
                // new to the repository: it reads the configuration and
                // pushes the empty config blob once, 2 requests.
                .expecting_at_most(
                    streamed_put_requests(p.concurrent_put_size)
                        + (2 * callers) as f64 / p.concurrent_puts as f64,
                ),
            );
        }
        Ok(rows)
    }

    /// Ranged gets in one large packfile by 1, 2, 4, 8 concurrent callers.
    pub fn concurrent_ranged_gets(&self) -> Result<Vec<Row>, BenchError> {
        let p = &self.params;
        let pair = self.pair("concurrent-ranged")?;
        let native = pair.native()?;
        let paths: [&dyn Path; 2] = [&pair.component, &native];
        let mut objects = Vec::new();
        for (at, path) in paths.iter().enumerate() {
            let mut data = random_bytes(p.large_size, 5);
            stamp(&mut data, 0, at);
            let mac = random_mac(&mut SmallRng::seed_from_u64(6 + at as u64));
            path.caller().put(Resource::Packfile, &mac, &data)?;
            objects.push((mac, data));
        }
        let plan = ranges(p.concurrent_ranged, p.large_size, 7);
        let mut rows = Vec::new();
        for (level, &callers) in p.concurrency.iter().enumerate() {
            let mut samples: [Samples; 2] = Default::default();
            for at in order(level) {
                let (mac, data) = &objects[at];
                let requests = || pair.requests();
                samples[at] = concurrently(
                    paths[at],
                    &requests,
                    callers,
                    plan.len(),
                    Concurrent {
                        setup: |_| (),
                        op: |caller: &mut dyn Caller, _: &mut (), i| {
                            let (offset, length) = plan[i];
                            caller.get(Resource::Packfile, mac, Some((offset, length)))
                        },
                        after: |i, got: Vec<u8>| {
                            let (offset, length) = plan[i];
                            let want = &data[offset as usize..offset as usize + length as usize];
                            check(got == want, || format!("range {offset}+{length}"))?;
                            Ok(got.len() as u64)
                        },
                        _types: std::marker::PhantomData,
                    },
                )?;
            }
            let memory = pair.component.guest_peak_memory();
            rows.push(
                // A caller new to the object reads its manifest once.
                Row::new(
                    CONCURRENT_RANGED,
                    callers,
                    Unit::OpsPerS,
                    0,
                    &samples,
                    memory,
                )
                .expecting_at_most(1.0 + callers as f64 / plan.len() as f64),
            );
        }
        Ok(rows)
    }
}

/// Puts `count` small packfiles through `path` from `threads` threads.
fn fill(path: &dyn Path, count: usize, threads: usize) -> Result<(), BenchError> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> Result<(), BenchError> {
                    let mut caller = path.caller();
                    caller.open()?;
                    let mut rng = SmallRng::seed_from_u64(100 + t as u64);
                    for _ in (t..count).step_by(threads) {
                        let mut object = [0u8; 64];
                        rng.fill_bytes(&mut object);
                        caller.put(Resource::Packfile, &random_mac(&mut rng), &object)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a fill thread panicked"))
    })
}
