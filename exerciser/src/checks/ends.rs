//! Edges and ends: absurd ranges, a plugin killed mid-Put, Close with a
//! stream open, calls after Close, exit on end of input.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::objects::{get_exact, get_gone, RANGED_LEN};
use super::{fail, mib, must, open_get, Checked, Ctx, Stop, PACKFILE};
use crate::data::{self, Content};
use crate::wire::{get_call, CallError, Expect};

/// How long a plugin may take to exit once its input ends.
const EXIT_LIMIT: Duration = Duration::from_secs(10);

pub async fn absurd_ranges(ctx: &mut Ctx) -> Checked {
    let (mac, content) = ctx.put_new(PACKFILE, "absurd", 0, 1000).await?;
    let cases: [(u64, u32, &str); 7] = [
        (1000, 1, "at the end"),
        (5000, 10, "past the end"),
        (990, 20, "across the end"),
        (0, u32::MAX, "a length of 4 GiB"),
        (u64::MAX - 5, 5, "an offset near 2^64"),
        (u64::MAX, u32::MAX, "both at their largest"),
        (10, 0, "a length of 0"),
    ];
    let mut said = Vec::new();
    for (offset, len, what) in cases {
        let answer = ctx
            .caller
            .get(
                PACKFILE,
                &mac,
                Some((offset, len)),
                Some(Expect::range(content, offset, len as u64)),
            )
            .await;
        match answer {
            Err(e) if e.broken() => return fail(format!("the range {offset}+{len} ({what}): {e}")),
            Err(_) => said.push(format!("{what}: refused")),
            Ok(got) if !got.prefix_ok() => {
                return fail(format!(
                    "the range {offset}+{len} ({what}) of a 1000 B object returned {got}"
                ))
            }
            Ok(got) if got.exact() => said.push(format!("{what}: {} B", got.len)),
            Ok(got) => said.push(format!("{what}: {} B (short)", got.len)),
        }
        if let Err(e) = ctx.caller.ping().await {
            return fail(format!("Ping after the range {offset}+{len} ({what}): {e}"));
        }
    }
    must("Ping", ctx.caller.ping().await)?;
    get_exact(ctx, PACKFILE, &mac, content).await?;
    Ok(said.join("; "))
}

pub async fn malformed_requests(ctx: &mut Ctx) -> Checked {
    let mut said = Vec::new();
    for (kind, key, what) in [
        (PACKFILE, vec![7u8; 31], "a 31-byte MAC"),
        (PACKFILE, Vec::new(), "an empty MAC"),
        (
            0,
            data::mac("malformed", 1).to_vec(),
            "resource 0 (undefined)",
        ),
        (99, data::mac("malformed", 1).to_vec(), "resource 99"),
    ] {
        match ctx.caller.get(kind, &key, None, None).await {
            Err(e) if e.broken() => {
                return Err(Stop::Warn(format!(
                    "Get with {what} (plakar never sends one): {e}"
                )))
            }
            Err(e) => said.push(format!("Get with {what}: refused ({e})")),
            Ok(got) => said.push(format!("Get with {what}: {} B", got.len)),
        }
        if let Err(e) = ctx.caller.ping().await {
            return Err(Stop::Warn(format!("Ping after a Get with {what}: {e}")));
        }
    }
    Ok(said.join("; "))
}

pub async fn killed_mid_put(ctx: &mut Ctx) -> Checked {
    const LEN: u64 = 48 << 20;
    const KILL_AT: u64 = 16 << 20;
    let mac = data::mac("killed", 0);
    let content = Content::new(data::seed("killed", 0), LEN);
    let plugin = ctx.caller.plugin.clone();
    let fired = Arc::new(AtomicBool::new(false));
    let sent = {
        let (plugin, fired) = (plugin.clone(), fired.clone());
        Arc::new(move |n: u64| {
            if n >= KILL_AT && !fired.swap(true, Ordering::SeqCst) {
                let plugin = plugin.clone();
                tokio::spawn(async move { plugin.kill().await });
            }
        })
    };
    let put = ctx
        .caller
        .put_with(PACKFILE, &mac, content, Some(sent))
        .await;
    ctx.ended = true;
    plugin.kill().await;
    if !fired.load(Ordering::SeqCst) {
        return fail(format!(
            "the Put ended before the plugin was killed: {}",
            match &put {
                Ok(n) => format!("bytes_written={n}"),
                Err(e) => e.to_string(),
            }
        ));
    }
    match put {
        Ok(n) => {
            ctx.model.unsure(PACKFILE, mac);
            return fail(format!(
                "a Put the plugin was killed in the middle of succeeded (bytes_written={n})"
            ));
        }
        Err(e) if e.timed_out => return fail(format!("the Put of a killed plugin: {e}")),
        Err(_) => {}
    }
    ctx.model.delete(PACKFILE, mac);
    if let Err(e) = ctx.restart().await {
        return fail(format!("after the kill: {e}"));
    }
    let created = ctx.created.clone().unwrap_or_default();
    let opened = must("Open after the kill", ctx.caller.open().await)?;
    if opened[..] != created[..] {
        return fail("after the kill, Open no longer returns the configuration");
    }
    ctx.list_exact(PACKFILE).await?;
    let refused = get_gone(ctx, PACKFILE, &mac, "whose Put was killed midway").await?;
    let ranged = data::mac("ranges", 0);
    if let Some(earlier) = ctx.model.content(PACKFILE, ranged) {
        get_exact(ctx, PACKFILE, &ranged, earlier).await?;
    }
    Ok(format!(
        "killed (SIGKILL) after {} of {} were sent; a new process opens the store, lists nothing of it, and Get is refused ({refused})",
        mib(KILL_AT),
        mib(LEN)
    ))
}

pub async fn close_with_stream_open(ctx: &mut Ctx) -> Checked {
    let mac = data::mac("ranges", 0);
    let (mac, _) = match ctx.model.content(PACKFILE, mac) {
        Some(content) => (mac, content),
        None => ctx.put_new(PACKFILE, "close-stream", 0, RANGED_LEN).await?,
    };
    let started = Instant::now();
    let mut stream = open_get(ctx, &mac, started).await?;
    let first = match tokio::time::timeout(ctx.opts.timeout, stream.message()).await {
        Ok(Ok(Some(reply))) => reply.chunk.len(),
        _ => return fail("Get: no first chunk"),
    };
    ctx.caller.note(
        format!(
            "{} (read one chunk, then left open)",
            get_call(PACKFILE, &mac, None)
        ),
        format!("{first} B"),
        started,
    );
    // Close while the stream is open and unread, then cancel the stream
    // (an unmerged plakar change cancels streams on Close instead of
    // draining them): Close must then be answered.
    let caller = ctx.caller.clone();
    let close = tokio::spawn(async move { caller.close().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled = Instant::now();
    drop(stream);
    ctx.caller.note(
        get_call(PACKFILE, &mac, None),
        "cancelled by the client, Close pending",
        cancelled,
    );
    let closed = close.await.expect("the close task");
    ctx.ended = true;
    if let Err(e) = closed {
        if e.broken() {
            return fail(format!("Close with a cancelled Get stream: {e}"));
        }
    }
    let answered = cancelled.elapsed();
    ctx.caller.plugin.close_stdin();
    let exit = Instant::now();
    match ctx.caller.plugin.wait_exit(EXIT_LIMIT).await {
        Some(status) => Ok(format!(
            "Close answered {:.2} s after the stream was cancelled; the plugin exited {:.2} s after EOF ({status})",
            answered.as_secs_f64(),
            exit.elapsed().as_secs_f64()
        )),
        None => fail(format!(
            "the plugin did not exit within {} s of the end of its input",
            EXIT_LIMIT.as_secs()
        )),
    }
}

pub async fn after_close(ctx: &mut Ctx) -> Checked {
    must("Close", ctx.caller.close().await)?;
    ctx.ended = true;
    let mac = data::mac("after-close", 0);
    let content = Content::new(data::seed("after-close", 0), 1000);
    let mut said = Vec::new();
    let ping = ctx.caller.ping().await.map(|_| "ok".to_string());
    after("Ping", ping, &mut said)?;
    let list = ctx
        .caller
        .list(PACKFILE)
        .await
        .map(|l| format!("{} keys", l.len()));
    after("List", list, &mut said)?;
    let put = ctx
        .caller
        .put(PACKFILE, &mac, content)
        .await
        .map(|n| format!("bytes_written={n}"));
    after("Put", put, &mut said)?;
    let get = ctx
        .caller
        .get(PACKFILE, &data::mac("ranges", 0), Some((0, 10)), None)
        .await
        .map(|g| format!("{} B", g.len));
    after("Get", get, &mut said)?;
    // Whatever the Put after Close did is not known.
    ctx.model.unsure(PACKFILE, mac);
    ctx.caller.plugin.close_stdin();
    let exit = Instant::now();
    match ctx.caller.plugin.wait_exit(EXIT_LIMIT).await {
        Some(status) => Ok(format!(
            "{}; exited {:.2} s after EOF ({status})",
            said.join(", "),
            exit.elapsed().as_secs_f64()
        )),
        None => fail(format!(
            "{}; the plugin did not exit within {} s of the end of its input",
            said.join(", "),
            EXIT_LIMIT.as_secs()
        )),
    }
}

/// A call after Close may be answered or refused; not hang, not crash.
fn after(what: &str, r: Result<String, CallError>, said: &mut Vec<String>) -> Result<(), Stop> {
    match r {
        Err(e) if e.broken() => fail(format!("{what} after Close: {e}")),
        Err(_) => {
            said.push(format!("{what} refused"));
            Ok(())
        }
        Ok(answer) => {
            said.push(format!("{what} answered ({answer})"));
            Ok(())
        }
    }
}
