//! The Kloset store contract, check by check, over a plugin's protocol.
//!
//! Each check runs on the plugin process of the moment; a check that
//! ends that process (a kill, a Close) or finds it dead leaves the next
//! check a new one, started and initialised as plakar would (Init, then
//! Open). What every check stored is kept in a model, so listings are
//! compared with what must be there, and with nothing else.

mod basics;
mod ends;
mod objects;
mod stress;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::data::{self, Content};
use crate::plugin::{Plugin, PluginCommand};
use crate::wire::{key_name, kind_name, CallError, Caller, Exchange, Progress};

pub const PACKFILE: i32 = crate::proto::StorageResource::Packfile as i32;
pub const STATE: i32 = crate::proto::StorageResource::State as i32;
pub const LOCK: i32 = crate::proto::StorageResource::Lock as i32;
pub const ECC_PACKFILE: i32 = crate::proto::StorageResource::EccPackfile as i32;
pub const ECC_STATE: i32 = crate::proto::StorageResource::EccState as i32;
pub const KINDS: [i32; 3] = [PACKFILE, STATE, LOCK];

/// Every check, in the order they run, with what each asks of the plugin.
pub const CHECKS: &[(&str, &str)] = &[
    (
        "init",
        "Init with the location and options answers origin, type, root and flags",
    ),
    ("open-before-create", "Open on an empty location fails"),
    ("create", "Create on an empty location succeeds"),
    (
        "create-again-refused",
        "a second Create fails and leaves the first configuration",
    ),
    (
        "open",
        "Open returns the bytes given to Create, also to a new process",
    ),
    ("ping", "Ping answers"),
    ("mode", "Mode says read and write (6)"),
    (
        "resource-kinds",
        "packfile, state and lock keep apart objects under one MAC",
    ),
    (
        "ecc-resources",
        "ECC packfiles and states work, or are refused as unsupported",
    ),
    (
        "round-trips",
        "Put then Get gives back the same bytes, from 0 B to 9 MiB",
    ),
    (
        "ranges",
        "ranged Gets give exactly the bytes asked for, at the start, middle and end",
    ),
    (
        "overwrite",
        "a second Put under one key replaces the object",
    ),
    (
        "delete-and-reput",
        "a deleted key is gone from Get and List, and can be put again",
    ),
    (
        "same-bytes-two-keys",
        "deleting one of two keys holding the same bytes keeps the other",
    ),
    ("missing-object", "Get of a key never put fails"),
    (
        "list-exact",
        "List gives each key once, of its own resource, and nothing else",
    ),
    ("size", "Size grows with what is stored, or is -1 (unknown)"),
    (
        "concurrent",
        "16 concurrent Puts, then 64 concurrent ranged Gets, on one connection",
    ),
    (
        "large-streamed",
        "a large object streams both ways in bounded plugin memory",
    ),
    (
        "cancelled-put",
        "a Put reset midway stores nothing, and the connection goes on",
    ),
    (
        "cancelled-get",
        "a Get cancelled mid-body leaves the plugin serving",
    ),
    (
        "absurd-ranges",
        "absurd offsets and lengths are answered, never with wrong bytes",
    ),
    (
        "malformed-requests",
        "short MACs and unknown resources are refused (plakar sends none: a crash warns)",
    ),
    (
        "killed-mid-put",
        "a plugin killed mid-Put leaves no partial object and an intact store",
    ),
    (
        "close-with-stream-open",
        "Close answers while a Get stream is cancelled, and the plugin exits on EOF",
    ),
    (
        "after-close",
        "calls after Close are answered or refused, not crashed on, and EOF ends the plugin",
    ),
];

/// Checks every run needs, whatever `--only` says.
const ALWAYS: &[&str] = &["init", "create"];

/// What a run is given.
#[derive(Clone)]
pub struct Options {
    pub plugin: PluginCommand,
    /// The protocol plakar would pass to Init (the location's scheme).
    pub proto: String,
    /// `location` and every option, as plakar's Init carries them.
    pub config: BTreeMap<String, String>,
    /// The size of the large streamed object.
    pub large: u64,
    /// How long one call may wait for an answer.
    pub timeout: Duration,
    /// Only these checks (and those every run needs); empty: all.
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub progress: Option<Progress>,
    /// Copy the plugin's stderr to ours as it comes.
    pub echo_stderr: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unsupported,
    /// Outside the contract, but worth knowing (the plugin dies on a
    /// request plakar never sends): the contract still holds.
    Warn,
    Skipped,
}

/// How one check ended.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub name: &'static str,
    pub what: &'static str,
    pub result: Verdict,
    pub ms: u64,
    pub detail: String,
    /// The exchanges of a failed check (all of them, up to the last 60);
    /// of others, the last 8.
    pub exchanges: Vec<Exchange>,
    pub exchanges_total: usize,
}

/// Why a check skipped for want of a plugin counts as a failure: the
/// contract was not shown to hold there.
pub const NO_PLUGIN: &str = "no plugin to run it on";

/// Why a check stopped short of passing.
pub enum Stop {
    Fail(String),
    Unsupported(String),
    Warn(String),
}

impl From<CallError> for Stop {
    fn from(e: CallError) -> Stop {
        Stop::Fail(e.to_string())
    }
}

pub type Checked = Result<String, Stop>;

/// Opens a whole Get of a packfile as a stream, for checks that read part
/// of it and then walk away. Headers come with the handler's first Send: a
/// handler that blocks before it never answers, so opening has the
/// timeout too. A refusal or a timeout is noted as the exchange and fails
/// the check.
pub async fn open_get(
    ctx: &mut Ctx,
    mac: &[u8; 32],
    started: Instant,
) -> Result<tonic::Streaming<crate::proto::GetResponse>, Stop> {
    let mut client = ctx.caller.client();
    let request = crate::wire::get_request(PACKFILE, mac, None);
    let e = match tokio::time::timeout(ctx.opts.timeout, client.get(request)).await {
        Ok(Ok(reply)) => return Ok(reply.into_inner()),
        Ok(Err(status)) => CallError::from_status(status, &ctx.caller.plugin).await,
        Err(_) => CallError::timeout(ctx.opts.timeout, &ctx.caller.plugin),
    };
    let call = crate::wire::get_call(PACKFILE, mac, None);
    ctx.caller.note(call, e.to_string(), started);
    fail(format!("Get: {e}"))
}

pub fn fail<T>(message: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(message.into()))
}

/// A call that had to succeed, its failure said in words naming it.
pub fn must<T>(what: &str, r: Result<T, CallError>) -> Result<T, Stop> {
    r.map_err(|e| Stop::Fail(format!("{what}: {e}")))
}

/// What the store must hold, as far as the exerciser knows.
#[derive(Default)]
pub struct Model {
    live: HashMap<(i32, [u8; 32]), Content>,
    /// Keys whose state a failed or interrupted call left unknown.
    unsure: HashSet<(i32, [u8; 32])>,
    deleted: HashSet<(i32, [u8; 32])>,
}

impl Model {
    pub fn put(&mut self, kind: i32, mac: [u8; 32], content: Content) {
        self.unsure.remove(&(kind, mac));
        self.deleted.remove(&(kind, mac));
        self.live.insert((kind, mac), content);
    }

    pub fn delete(&mut self, kind: i32, mac: [u8; 32]) {
        self.unsure.remove(&(kind, mac));
        self.deleted.insert((kind, mac));
        self.live.remove(&(kind, mac));
    }

    pub fn unsure(&mut self, kind: i32, mac: [u8; 32]) {
        self.live.remove(&(kind, mac));
        self.unsure.insert((kind, mac));
    }

    pub fn content(&self, kind: i32, mac: [u8; 32]) -> Option<Content> {
        self.live.get(&(kind, mac)).copied()
    }

    pub fn live_bytes(&self) -> u64 {
        self.live.values().map(|c| c.len).sum()
    }

    /// What is wrong with a listing of `kind`: duplicates, malformed keys,
    /// keys that must not be there, keys missing. Empty when exact. The
    /// keys at fault become unsure, so that one fault fails one check,
    /// not every later one.
    pub fn listing_faults(&mut self, kind: i32, listed: &[Bytes]) -> Vec<String> {
        let mut doubtful = Vec::new();
        let mut faults = Vec::new();
        let mut seen = HashSet::new();
        for mac in listed {
            let Ok(key) = <[u8; 32]>::try_from(&mac[..]) else {
                faults.push(format!("a key of {} B: {}", mac.len(), key_name(mac)));
                continue;
            };
            if !seen.insert(key) {
                faults.push(format!("{} listed twice", key_name(&key)));
            } else if !self.live.contains_key(&(kind, key)) && !self.unsure.contains(&(kind, key)) {
                doubtful.push(key);
                let why = if self.deleted.contains(&(kind, key)) {
                    "deleted"
                } else if KINDS
                    .iter()
                    .chain([ECC_PACKFILE, ECC_STATE].iter())
                    .any(|k| *k != kind && self.live.contains_key(&(*k, key)))
                {
                    "a key of another resource"
                } else {
                    "never put"
                };
                faults.push(format!("{} listed ({why})", key_name(&key)));
            }
        }
        for (k, key) in self.live.keys() {
            if *k == kind && !seen.contains(key) {
                faults.push(format!("{} missing", key_name(key)));
                doubtful.push(*key);
            }
        }
        for key in doubtful {
            self.unsure(kind, key);
        }
        faults
    }
}

/// A run's state: the plugin of the moment and what was stored.
pub struct Ctx {
    pub opts: Options,
    pub caller: Caller,
    pub model: Model,
    /// The configuration given to Create, once it succeeded.
    pub created: Option<Vec<u8>>,
    /// The plugin of the moment was ended on purpose, or found dead.
    pub ended: bool,
    pub peak_rss: u64,
}

impl Ctx {
    /// Starts a plugin and sends Init; Open too once the store exists.
    pub async fn session(opts: &Options) -> Result<Caller, String> {
        let plugin = Plugin::start(&opts.plugin, opts.echo_stderr)
            .await
            .map_err(|e| e.to_string())?;
        let mut caller = Caller::new(plugin, opts.timeout, opts.progress.clone());
        caller.body_cap = opts.large.saturating_add(crate::wire::BODY_SLACK);
        Ok(caller)
    }

    /// A new plugin process for the next check, as plakar opens a store.
    pub async fn restart(&mut self) -> Result<(), String> {
        let old = self.caller.plugin.clone();
        old.close_stdin();
        if old.wait_exit(Duration::from_secs(5)).await.is_none() {
            old.kill().await;
        }
        let caller = Ctx::session(&self.opts).await?;
        caller
            .init(&self.opts.proto, &self.opts.config)
            .await
            .map_err(|e| format!("Init of a new plugin process: {e}"))?;
        if self.created.is_some() {
            caller
                .open()
                .await
                .map_err(|e| format!("Open in a new plugin process: {e}"))?;
        }
        self.caller = caller;
        self.ended = false;
        Ok(())
    }

    /// A small object put under `check`'s key `n`, kept in the model.
    pub async fn put_new(
        &mut self,
        kind: i32,
        check: &str,
        n: u32,
        len: u64,
    ) -> Result<([u8; 32], Content), Stop> {
        let mac = data::mac(check, n);
        let content = Content::new(data::seed(check, n), len);
        let written = must(
            &format!("Put {} {}", kind_name(kind), key_name(&mac)),
            self.caller.put(kind, &mac, content).await,
        )?;
        self.model.put(kind, mac, content);
        if written != len as i64 {
            return fail(format!("Put of {len} B answered bytes_written={written}"));
        }
        Ok((mac, content))
    }

    /// Lists `kind` and holds the listing to the model.
    pub async fn list_exact(&mut self, kind: i32) -> Result<Vec<Bytes>, Stop> {
        let listed = must(
            &format!("List {}", kind_name(kind)),
            self.caller.list(kind).await,
        )?;
        let faults = self.model.listing_faults(kind, &listed);
        if !faults.is_empty() {
            return fail(format!(
                "List {} is not exact: {}",
                kind_name(kind),
                faults.join(", ")
            ));
        }
        Ok(listed)
    }
}

/// Runs the checks; the report says which held.
pub async fn run(opts: Options) -> crate::report::Report {
    let started = Instant::now();
    let mut report = crate::report::Report::new(&opts);
    let wanted = |name: &str| {
        ALWAYS.contains(&name)
            || ((opts.only.is_empty() || opts.only.iter().any(|o| o == name))
                && !opts.skip.iter().any(|s| s == name))
    };
    let caller = match Ctx::session(&opts).await {
        Ok(caller) => caller,
        Err(e) => {
            report.start_error = Some(e);
            report.finish(started);
            return report;
        }
    };
    let mut ctx = Ctx {
        opts: opts.clone(),
        caller,
        model: Model::default(),
        created: None,
        ended: false,
        peak_rss: 0,
    };
    let mut blocked: Option<String> = None;
    let total = CHECKS.len();
    for (i, (name, what)) in CHECKS.iter().enumerate() {
        if !wanted(name) {
            continue;
        }
        if let Some(why) = &blocked {
            report.checks.push(skipped(name, what, why));
            continue;
        }
        ctx.caller
            .progress(&format!("[{:>2}/{total}] {name}", i + 1));
        if ctx.ended || ctx.caller.plugin.exited().is_some() {
            if let Err(e) = ctx.restart().await {
                let why = format!("{NO_PLUGIN}: {e}");
                report.checks.push(skipped(name, what, &why));
                blocked = Some(why);
                continue;
            }
        }
        ctx.caller.take_log();
        let t = Instant::now();
        let outcome = one(&mut ctx, name).await;
        let ms = t.elapsed().as_millis() as u64;
        let exchanges = ctx.caller.take_log();
        if let Some(rss) = ctx.caller.plugin.rss_bytes() {
            ctx.peak_rss = ctx.peak_rss.max(rss);
        }
        let (mut result, mut detail) = match outcome {
            Ok(detail) => (Verdict::Pass, detail),
            Err(Stop::Fail(why)) => (Verdict::Fail, why),
            Err(Stop::Unsupported(why)) => (Verdict::Unsupported, why),
            Err(Stop::Warn(why)) => (Verdict::Warn, why),
        };
        // A plugin found dead is said, whatever the check made of it; a
        // check the plugin died in (and that did not end it on purpose)
        // does not pass: plakar would have lost its store there.
        if !ctx.ended {
            if let Some(death) = ctx.caller.plugin.death() {
                if matches!(result, Verdict::Pass | Verdict::Unsupported) {
                    result = Verdict::Fail;
                    detail = if detail.is_empty() {
                        format!("the plugin died during the check: {death}")
                    } else {
                        format!("the plugin died during the check ({detail}); {death}")
                    };
                } else if !detail.contains(&death) {
                    detail = format!("{detail} ({death})");
                }
                ctx.ended = true;
            }
        }
        let keep = if result == Verdict::Fail { 60 } else { 8 };
        let total_exchanges = exchanges.len();
        let kept = exchanges[total_exchanges.saturating_sub(keep)..].to_vec();
        ctx.caller.progress(&format!(
            "[{:>2}/{total}] {name}: {}",
            i + 1,
            match result {
                Verdict::Pass => "pass",
                Verdict::Fail => "FAIL",
                Verdict::Unsupported => "unsupported",
                Verdict::Warn => "warn",
                Verdict::Skipped => "skipped",
            }
        ));
        // What a failed check left behind (a broken connection, a
        // stuck stream) must not decide the next: a new process.
        if matches!(result, Verdict::Fail | Verdict::Warn) {
            ctx.ended = true;
        }
        report.checks.push(CheckReport {
            name,
            what,
            result,
            ms,
            detail,
            exchanges: kept,
            exchanges_total: total_exchanges,
        });
        if result == Verdict::Fail && *name == "init" {
            blocked = Some("Init failed".into());
        }
        if result == Verdict::Fail && *name == "create" && ctx.created.is_none() {
            blocked = Some("Create failed".into());
        }
    }
    let plugin = ctx.caller.plugin.clone();
    plugin.close_stdin();
    if plugin.wait_exit(Duration::from_secs(10)).await.is_none() {
        plugin.kill().await;
    }
    report.plugin_peak_rss = (ctx.peak_rss > 0).then_some(ctx.peak_rss);
    report.finish(started);
    report
}

fn skipped(name: &'static str, what: &'static str, why: &str) -> CheckReport {
    CheckReport {
        name,
        what,
        result: Verdict::Skipped,
        ms: 0,
        detail: why.to_string(),
        exchanges: Vec::new(),
        exchanges_total: 0,
    }
}

async fn one(ctx: &mut Ctx, name: &str) -> Checked {
    match name {
        "init" => basics::init(ctx).await,
        "open-before-create" => basics::open_before_create(ctx).await,
        "create" => basics::create(ctx).await,
        "create-again-refused" => basics::create_again_refused(ctx).await,
        "open" => basics::open(ctx).await,
        "ping" => basics::ping(ctx).await,
        "mode" => basics::mode(ctx).await,
        "resource-kinds" => objects::resource_kinds(ctx).await,
        "ecc-resources" => objects::ecc_resources(ctx).await,
        "round-trips" => objects::round_trips(ctx).await,
        "ranges" => objects::ranges(ctx).await,
        "overwrite" => objects::overwrite(ctx).await,
        "delete-and-reput" => objects::delete_and_reput(ctx).await,
        "same-bytes-two-keys" => objects::same_bytes_two_keys(ctx).await,
        "missing-object" => objects::missing_object(ctx).await,
        "list-exact" => objects::list_exact(ctx).await,
        "size" => basics::size(ctx).await,
        "concurrent" => stress::concurrent(ctx).await,
        "large-streamed" => stress::large_streamed(ctx).await,
        "cancelled-put" => stress::cancelled_put(ctx).await,
        "cancelled-get" => stress::cancelled_get(ctx).await,
        "absurd-ranges" => ends::absurd_ranges(ctx).await,
        "malformed-requests" => ends::malformed_requests(ctx).await,
        "killed-mid-put" => ends::killed_mid_put(ctx).await,
        "close-with-stream-open" => ends::close_with_stream_open(ctx).await,
        "after-close" => ends::after_close(ctx).await,
        other => fail(format!("no check is named {other}")),
    }
}

/// MiB, for details.
pub fn mib(bytes: u64) -> String {
    let m = bytes as f64 / (1 << 20) as f64;
    if m >= 10.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}
