//! The pool's rules over a fake instance: lending, the cap and its wait,
//! which instances leave for good, and closing.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use super::*;

/// What happened to the fake instances, in order: `build 1`, `close 1`,
/// `drop 1`, ...
type Log = Arc<Mutex<Vec<String>>>;

/// Builds numbered fakes (from 1); a build fails while `fail_builds` is set.
#[derive(Default)]
struct FakeRecipe {
    built: AtomicUsize,
    fail_builds: AtomicBool,
    /// How an instance's `close` answers, by id (fine unless listed).
    close: Mutex<HashMap<usize, Close>>,
    log: Log,
}

impl Build for FakeRecipe {
    type Instance = Fake;

    fn build(&self) -> Result<Fake, Error> {
        if self.fail_builds.load(Ordering::SeqCst) {
            return Err(Error::Instantiate("canned build failure".into()).into());
        }
        let id = self.built.fetch_add(1, Ordering::SeqCst) + 1;
        self.log.lock().unwrap().push(format!("build {id}"));
        Ok(Fake {
            id,
            flags: Flags::default(),
            memory: 0,
            close: self.close.lock().unwrap().get(&id).copied(),
            log: self.log.clone(),
        })
    }
}

#[derive(Clone, Copy)]
enum Close {
    /// A contract error from the component.
    Fails,
    /// A trap.
    Traps,
}

struct Fake {
    id: usize,
    flags: Flags,
    /// Its linear memory's size (0 unless a test sets it).
    memory: usize,
    close: Option<Close>,
    log: Log,
}

impl Pooled for Fake {
    fn flags(&self) -> &Flags {
        &self.flags
    }

    fn flags_mut(&mut self) -> &mut Flags {
        &mut self.flags
    }

    fn memory(&self) -> usize {
        self.memory
    }

    fn close(&mut self) -> wasmtime::Result<Result<(), WitError>> {
        self.log.lock().unwrap().push(format!("close {}", self.id));
        match self.close {
            None => Ok(Ok(())),
            Some(Close::Fails) => Ok(Err(WitError::Transport(format!(
                "canned close failure {}",
                self.id
            )))),
            Some(Close::Traps) => Err(wasmtime::Error::msg("wasm trap: unreachable")),
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(format!("drop {}", self.id));
    }
}

type FakePool = Arc<Pool<FakeRecipe>>;

fn pool(max: usize, wait: Duration) -> FakePool {
    Pool::new(FakeRecipe::default(), max, wait)
}

fn log(pool: &FakePool) -> Vec<String> {
    pool.recipe.log.lock().unwrap().clone()
}

fn built(pool: &FakePool) -> usize {
    pool.recipe.built.load(Ordering::SeqCst)
}

fn id(lease: &mut Lease<FakeRecipe>) -> usize {
    lease.instance().id
}

fn trap(lease: &mut Lease<FakeRecipe>) -> Error {
    lease
        .call(|_| Err::<(), _>(wasmtime::Error::msg("wasm trap: unreachable")))
        .unwrap_err()
}

const SHORT: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_secs(10);

#[test]
fn a_lone_caller_gets_the_same_instance_back() {
    let pool = pool(4, LONG);
    for _ in 0..3 {
        let mut lease = pool.acquire().unwrap();
        assert_eq!(id(&mut lease), 1);
        assert_eq!(pool.counts(), (1, 0));
    }
    assert_eq!(pool.counts(), (1, 1));
    assert_eq!(log(&pool), ["build 1"]);
}

#[test]
fn idle_instances_are_lent_last_returned_first() {
    let pool = pool(4, LONG);
    let (mut a, mut b) = (pool.acquire().unwrap(), pool.acquire().unwrap());
    assert_eq!((id(&mut a), id(&mut b)), (1, 2));
    drop(b);
    drop(a);
    assert_eq!(id(&mut pool.acquire().unwrap()), 1);
    // Taken and returned in turn, 1 stays on top: 2 is lent only alongside.
    let (mut c, mut d) = (pool.acquire().unwrap(), pool.acquire().unwrap());
    assert_eq!((id(&mut c), id(&mut d)), (1, 2));
    assert_eq!(built(&pool), 2);
}

#[test]
fn at_most_max_instances_live_and_a_waiting_caller_gets_one_returned() {
    let pool = pool(2, LONG);
    let (mut a, _b) = (pool.acquire().unwrap(), pool.acquire().unwrap());
    assert_eq!(pool.counts(), (2, 0));
    let returned_id = id(&mut a);

    let (tx, rx) = mpsc::channel();
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || tx.send(pool.acquire().map(|mut l| id(&mut l))).unwrap())
    };
    thread::sleep(Duration::from_millis(300));
    assert!(
        rx.try_recv().is_err(),
        "a third caller got an instance while two were lent"
    );
    assert_eq!(built(&pool), 2);

    drop(a);
    let got = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the waiter woke");
    assert_eq!(got.unwrap(), returned_id);
    assert_eq!(built(&pool), 2);
    waiter.join().unwrap();
}

#[test]
fn a_caller_waiting_past_instance_wait_gets_pool_timeout() {
    let pool = pool(1, Duration::from_secs(1));
    let _held = pool.acquire().unwrap();
    let start = Instant::now();
    let err = pool.acquire().err().expect("no instance came free");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1), "gave up after {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert!(
        matches!(
            err,
            Error::PoolTimeout {
                waited_secs: 1,
                instances: 1
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("instance_wait"), "{message}");
    assert!(message.contains("max_instances"), "{message}");
    assert_eq!(built(&pool), 1);
}

#[test]
fn a_trapped_instance_is_dropped_and_its_slot_freed() {
    let pool = pool(1, SHORT);
    let mut lease = pool.acquire().unwrap();
    let err = trap(&mut lease);
    assert!(
        matches!(&err, Error::Trap(m) if m.contains("unreachable")),
        "{err:?}"
    );
    assert!(lease.is_poisoned());
    // A trapped instance is not entered again.
    let mut entered = false;
    let again = lease.call(|_| {
        entered = true;
        Ok(())
    });
    assert!(!entered);
    assert!(
        matches!(&again, Err(Error::Trap(m)) if m.contains("trapped earlier")),
        "{again:?}"
    );

    drop(lease);
    assert_eq!(log(&pool), ["build 1", "drop 1"]);
    assert_eq!(pool.counts(), (0, 0));
    assert_eq!(id(&mut pool.acquire().unwrap()), 2);
}

#[test]
fn a_discarded_instance_is_dropped_and_its_slot_freed() {
    let pool = pool(1, SHORT);
    let mut lease = pool.acquire().unwrap();
    lease.discard();
    assert!(!lease.is_poisoned());
    drop(lease);
    assert_eq!(log(&pool), ["build 1", "drop 1"]);
    assert_eq!(pool.counts(), (0, 0));
    assert_eq!(id(&mut pool.acquire().unwrap()), 2);
}

#[test]
fn an_instance_lent_during_a_panic_is_dropped_and_its_slot_freed() {
    let pool = pool(1, SHORT);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let _lease = pool.acquire().unwrap();
        panic!("a caller panicked while holding an instance (expected by this test)");
    }));
    assert!(panicked.is_err());
    assert_eq!(log(&pool), ["build 1", "drop 1"]);
    assert_eq!(pool.counts(), (0, 0));
    assert_eq!(id(&mut pool.acquire().unwrap()), 2);
}

#[test]
fn a_failed_build_frees_its_slot() {
    let pool = pool(1, SHORT);
    pool.recipe.fail_builds.store(true, Ordering::SeqCst);
    let err = pool.acquire().err().expect("the build failed");
    assert!(
        matches!(&err, Error::Instantiate(m) if m.contains("canned")),
        "{err:?}"
    );
    assert_eq!(pool.counts(), (0, 0));
    pool.recipe.fail_builds.store(false, Ordering::SeqCst);
    assert_eq!(id(&mut pool.acquire().unwrap()), 1);
}

#[test]
fn close_all_closes_each_idle_instance_once() {
    let pool = pool(3, LONG);
    let (_a, b, c) = (
        pool.acquire().unwrap(),
        pool.acquire().unwrap(),
        pool.acquire().unwrap(),
    );
    drop((b, c));
    pool.close_all().unwrap();
    assert_eq!(
        log(&pool),
        ["build 1", "build 2", "build 3", "close 2", "close 3"]
    );
    // They stay in the pool, closed: lending one again does not close it twice.
    assert_eq!(pool.counts(), (3, 2));
    let mut again = pool.acquire().unwrap();
    assert!(again.instance().flags().closed);
    assert_eq!(log(&pool).len(), 5);
    drop(again);
    pool.close_all().unwrap();
    assert_eq!(log(&pool).len(), 5);
}

#[test]
fn instances_acquired_after_close_all_are_closed_before_use() {
    let pool = pool(3, LONG);
    let mut lent = pool.acquire().unwrap();
    assert_eq!(id(&mut lent), 1);
    pool.close_all().unwrap();
    assert!(
        !lent.instance().flags().closed,
        "in use: closed when next lent"
    );
    drop(lent);

    // Lent during close_all, now on top of the idle list.
    let mut first = pool.acquire().unwrap();
    assert_eq!(id(&mut first), 1);
    assert!(first.instance().flags().closed);
    assert_eq!(log(&pool).last().unwrap(), "close 1");

    // Built after close_all.
    let mut second = pool.acquire().unwrap();
    assert_eq!(id(&mut second), 2, "the one close_all built and closed");
    let mut third = pool.acquire().unwrap();
    assert_eq!(id(&mut third), 3);
    assert!(third.instance().flags().closed);
    assert_eq!(log(&pool).last().unwrap(), "close 3");
}

#[test]
fn close_all_with_no_idle_instance_builds_one_to_close() {
    let pool = pool(2, LONG);
    pool.close_all().unwrap();
    assert_eq!(log(&pool), ["build 1", "close 1"]);
    assert_eq!(pool.counts(), (1, 1));
}

#[test]
fn close_all_reports_the_first_close_error_and_closes_the_rest() {
    let pool = pool(3, LONG);
    pool.recipe
        .close
        .lock()
        .unwrap()
        .extend([(2, Close::Fails), (3, Close::Fails)]);
    let (a, b, c) = (
        pool.acquire().unwrap(),
        pool.acquire().unwrap(),
        pool.acquire().unwrap(),
    );
    drop((a, b, c));
    let err = pool.close_all().unwrap_err();
    let message = err.to_string();
    // The idle instances are closed in the order they came back: 1, 2, 3.
    assert!(message.contains("canned close failure 2"), "{message}");
    assert_eq!(&log(&pool)[3..], ["close 1", "close 2", "close 3"]);
    // A contract error leaves the instance usable: all three stay.
    assert_eq!(pool.counts(), (3, 3));
}

#[test]
fn an_instance_whose_close_traps_is_dropped_and_its_slot_freed() {
    let pool = pool(2, LONG);
    pool.recipe.close.lock().unwrap().insert(1, Close::Traps);
    let (a, b) = (pool.acquire().unwrap(), pool.acquire().unwrap());
    drop((a, b));
    let err = pool.close_all().unwrap_err();
    assert!(
        matches!(&err, Error::Trap(m) if m.contains("unreachable")),
        "{err:?}"
    );
    assert_eq!(&log(&pool)[2..], ["close 1", "close 2", "drop 1"]);
    assert_eq!(pool.counts(), (1, 1));
}

#[test]
fn idle_instances_are_kept_up_to_a_count_and_a_memory() {
    const MIB: usize = 1 << 20;
    let cases: [(&str, &[usize], usize, bool); 6] = [
        ("a lone instance, whatever it holds", &[], 200 * MIB, true),
        ("small ones, under the count", &[MIB, MIB, MIB], MIB, true),
        ("past the count", &[MIB; MAX_IDLE], MIB, false),
        ("up to the memory", &[8 * MIB, 4 * MIB], 4 * MIB, true),
        ("past the memory", &[8 * MIB, 4 * MIB], 5 * MIB, false),
        ("a large one beside another", &[MIB], 16 * MIB, false),
    ];
    for (case, idle, memory, kept) in cases {
        assert_eq!(keep_idle(idle, memory), kept, "{case}");
    }
}

/// After a burst of callers, the instances coming back past what the idle
/// ones may hold are dropped and their slots freed; a new caller gets a
/// kept one.
#[test]
fn instances_past_the_idle_limit_are_dropped_when_they_come_back() {
    let pool = pool(16, Duration::from_secs(5));
    let mut leases: Vec<_> = (0..MAX_IDLE + 2).map(|_| pool.acquire().unwrap()).collect();
    assert_eq!(pool.counts(), (MAX_IDLE + 2, 0));
    leases[0].instance().memory = 12 << 20;
    // Back in order: instance 1 (12 MiB) alone, kept; 2 to 4 (nothing
    // each) under the memory and the count, kept; 5 and 6 past the count.
    drop(leases);
    assert_eq!(pool.counts(), (MAX_IDLE, MAX_IDLE));
    let dropped: Vec<String> = log(&pool)
        .into_iter()
        .filter(|l| l.starts_with("drop"))
        .collect();
    assert_eq!(dropped, vec!["drop 5", "drop 6"]);
    let mut again = pool.acquire().unwrap();
    assert_eq!(id(&mut again), 4, "the last kept");
    assert_eq!(built(&pool), MAX_IDLE + 2, "none built again");
}
