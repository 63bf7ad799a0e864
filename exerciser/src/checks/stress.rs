//! Load and interruptions: concurrent streams, a large object in bounded
//! memory, a Put reset midway, a Get cancelled mid-body.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_stream::wrappers::ReceiverStream;

use super::objects::{get_exact, get_gone, RANGED_LEN};
use super::{fail, mib, must, open_get, Checked, Ctx, PACKFILE};
use crate::data::{self, Content};
use crate::proto::PutRequest;
use crate::wire::{get_call, key_name, Expect};

pub async fn concurrent(ctx: &mut Ctx) -> Checked {
    const PUTS: u32 = 16;
    const GETS: u32 = 64;
    let objects: Vec<([u8; 32], Content)> = (0..PUTS)
        .map(|i| {
            let len = (i as u64 + 1) * 200_000 + i as u64;
            (
                data::mac("concurrent", i),
                Content::new(data::seed("concurrent", i), len),
            )
        })
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mac, content) in objects.clone() {
        let caller = ctx.caller.clone();
        tasks.push(tokio::spawn(async move {
            caller.put(PACKFILE, &mac, content).await
        }));
    }
    for (task, (mac, content)) in tasks.into_iter().zip(&objects) {
        let written = must("a concurrent Put", task.await.expect("a put task"))?;
        ctx.model.put(PACKFILE, *mac, *content);
        if written != content.len as i64 {
            return fail(format!(
                "a concurrent Put of {} B answered bytes_written={written}",
                content.len
            ));
        }
    }
    let puts = started.elapsed();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for g in 0..GETS {
        let (mac, content) = objects[(g % PUTS) as usize];
        // Offsets and lengths spread over each object, ends included.
        let offset = (g as u64 * 7919 * 13) % content.len;
        let len = ((g as u64 + 1) * 3301).min(content.len - offset);
        let caller = ctx.caller.clone();
        tasks.push(tokio::spawn(async move {
            let got = caller
                .get(
                    PACKFILE,
                    &mac,
                    Some((offset, len as u32)),
                    Some(Expect::range(content, offset, len)),
                )
                .await;
            (mac, offset, len, got)
        }));
    }
    for task in tasks {
        let (mac, offset, len, got) = task.await.expect("a get task");
        let got = must("a concurrent ranged Get", got)?;
        if !got.exact() {
            return fail(format!(
                "a concurrent ranged Get of {} at {offset}+{len} returned {got}",
                key_name(&mac)
            ));
        }
    }
    ctx.list_exact(PACKFILE).await?;
    Ok(format!(
        "{PUTS} Puts of 0.2 to 3.2 MiB in {:.1} s, {GETS} ranged Gets in {:.1} s, every byte right",
        puts.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ))
}

/// Samples a process's RSS until stopped: the highest seen.
struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Some(rss) = crate::plugin::tree_rss(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        RssWatch { peak, stop }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How much a plugin's memory may grow while a `len` object streams
/// through it: half the object or 128 MiB, whichever is smaller, and no
/// less than 32 MiB (buffers and allocator slack).
pub fn memory_limit(len: u64) -> u64 {
    (len / 2).min(128 << 20).max(32 << 20)
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_allowed_is_half_the_object_within_32_and_128_mib() {
        const MIB: u64 = 1 << 20;
        assert_eq!(super::memory_limit(24 * MIB), 32 * MIB);
        assert_eq!(super::memory_limit(100 * MIB), 50 * MIB);
        assert_eq!(super::memory_limit(256 * MIB), 128 * MIB);
        assert_eq!(super::memory_limit(4096 * MIB), 128 * MIB);
    }
}

/// A progress line every eighth of `total`.
fn meter(ctx: &Ctx, what: &'static str, total: u64) -> Arc<dyn Fn(u64) + Send + Sync> {
    let caller = ctx.caller.clone();
    let step = (total / 8).max(1);
    let next = Arc::new(AtomicU64::new(step));
    let started = Instant::now();
    Arc::new(move |done: u64| {
        let mark = next.load(Ordering::Relaxed);
        if done >= mark && done < total {
            next.store(mark + step, Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64().max(0.001);
            caller.progress(&format!(
                "    large-streamed: {what} {} of {} ({:.0} MiB/s)",
                mib(done),
                mib(total),
                done as f64 / secs / (1 << 20) as f64
            ));
        }
    })
}

pub async fn large_streamed(ctx: &mut Ctx) -> Checked {
    let len = ctx.opts.large;
    let mac = data::mac("large", 0);
    let content = Content::new(data::seed("large", 0), len);
    let pid = ctx.caller.plugin.pid();
    let before = crate::plugin::tree_rss(pid).unwrap_or(0);
    let watch = RssWatch::start(pid);
    let started = Instant::now();
    let written = ctx
        .caller
        .put_with(PACKFILE, &mac, content, Some(meter(ctx, "put", len)))
        .await;
    let put_time = started.elapsed();
    let put_peak = watch.peak();
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            ctx.model.unsure(PACKFILE, mac);
            return fail(format!("Put of {}: {e}", mib(len)));
        }
    };
    ctx.model.put(PACKFILE, mac, content);
    if written != len as i64 {
        return fail(format!("Put of {len} B answered bytes_written={written}"));
    }
    let started = Instant::now();
    let got = must(
        "Get",
        ctx.caller
            .get_with(
                PACKFILE,
                &mac,
                None,
                Some(Expect::whole(content)),
                Some(meter(ctx, "get", len)),
            )
            .await,
    )?;
    let get_time = started.elapsed();
    let peak = watch.peak();
    drop(watch);
    if !got.exact() {
        return fail(format!("Get of the {} object returned {got}", mib(len)));
    }
    // The end of it, as Kloset reads a packfile's footer.
    let tail = must(
        "ranged Get of the end",
        ctx.caller
            .get(
                PACKFILE,
                &mac,
                Some((len - 4096, 4096)),
                Some(Expect::range(content, len - 4096, 4096)),
            )
            .await,
    )?;
    if !tail.exact() {
        return fail(format!(
            "the last 4096 B of the {} object: {tail}",
            mib(len)
        ));
    }
    let rate = |t: Duration| len as f64 / t.as_secs_f64().max(0.001) / (1 << 20) as f64;
    let memory = format!(
        "plugin RSS {} before, peak {} while putting, {} while getting",
        mib(before),
        mib(put_peak),
        mib(peak)
    );
    let grew = peak.saturating_sub(before);
    let limit = memory_limit(len);
    let memory = if before == 0 {
        "memory not checked (no /proc to read the plugin's RSS from)".to_string()
    } else if len <= limit {
        format!(
            "memory not checked (the object is not larger than the {} of growth allowed; give --large over {}): {memory}",
            mib(limit),
            mib(limit)
        )
    } else if grew > limit {
        return fail(format!(
            "the plugin's memory (its process tree's RSS) grew by {} for a {} object, over the {} allowed: it holds objects whole or in large part ({memory})",
            mib(grew),
            mib(len),
            mib(limit)
        ));
    } else {
        format!(
            "{memory}; grew by {} (at most {} allowed)",
            mib(grew),
            mib(limit)
        )
    };
    Ok(format!(
        "{}: put in {:.1} s ({:.0} MiB/s), get in {:.1} s ({:.0} MiB/s); {memory}",
        mib(len),
        put_time.as_secs_f64(),
        rate(put_time),
        get_time.as_secs_f64(),
        rate(get_time)
    ))
}

pub async fn cancelled_put(ctx: &mut Ctx) -> Checked {
    let mac = data::mac("cancelled-put", 0);
    let content = Content::new(data::seed("cancelled-put", 0), 3 << 20);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(PutRequest {
        mac: Bytes::copy_from_slice(&mac),
        r#type: PACKFILE,
        chunk: Bytes::new(),
    })
    .await
    .expect("the body's channel");
    for i in 0..3u64 {
        tx.send(PutRequest {
            chunk: Bytes::from(content.pattern.bytes(i << 20, 1 << 20)),
            ..Default::default()
        })
        .await
        .expect("the body's channel");
    }
    // The stream is then reset, as grpc-go resets it when plakar
    // cancels a Put's context. Dropping the call alone would not do: the
    // connection's task goes on sending the body and, once the sender
    // goes, ends it, making a whole, shorter object. So the body fails:
    // a message over this client's encoding limit makes the encoder fail
    // the stream, and the HTTP/2 client resets it (RST_STREAM).
    let mut client = ctx.caller.client().max_encoding_message_size(2 << 20);
    let started = Instant::now();
    let call = tokio::spawn(async move { client.put(ReceiverStream::new(rx)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = tx
        .send(PutRequest {
            chunk: Bytes::from(vec![0u8; 3 << 20]),
            ..Default::default()
        })
        .await;
    let answer = match tokio::time::timeout(ctx.opts.timeout, call).await {
        Ok(Ok(Ok(reply))) => format!(
            "bytes_written={} (the reset was not seen)",
            reply.into_inner().bytes_written
        ),
        Ok(Ok(Err(status))) => format!("error {:?}: {}", status.code(), status.message()),
        Ok(Err(_)) => "the call's task failed".to_string(),
        Err(_) => "no answer".to_string(),
    };
    drop(tx);
    ctx.caller.note(
        format!(
            "Put packfile {} (3 MiB of chunks sent, then the stream reset)",
            key_name(&mac)
        ),
        format!("reset by the client; the call ended: {answer}"),
        started,
    );
    ctx.model.delete(PACKFILE, mac);
    tokio::time::sleep(Duration::from_millis(500)).await;
    must("Ping after the reset", ctx.caller.ping().await)?;
    ctx.list_exact(PACKFILE).await?;
    let refused = get_gone(ctx, PACKFILE, &mac, "whose Put was reset").await?;
    let (mac2, content2) = ctx.put_new(PACKFILE, "cancelled-put", 1, 2 << 20).await?;
    get_exact(ctx, PACKFILE, &mac2, content2).await?;
    Ok(format!(
        "nothing listed, Get refused ({refused}); a Put after it works"
    ))
}

pub async fn cancelled_get(ctx: &mut Ctx) -> Checked {
    let mac = data::mac("ranges", 0);
    let Some(content) = ctx.model.content(PACKFILE, mac) else {
        // The range check did not run: an object of its own.
        let (mac, content) = ctx
            .put_new(PACKFILE, "cancelled-get", 0, RANGED_LEN)
            .await?;
        return cancel_one(ctx, mac, content).await;
    };
    cancel_one(ctx, mac, content).await
}

async fn cancel_one(ctx: &mut Ctx, mac: [u8; 32], content: Content) -> Checked {
    for round in 0..3 {
        let started = Instant::now();
        let mut stream = open_get(ctx, &mac, started).await?;
        let first = tokio::time::timeout(ctx.opts.timeout, stream.message()).await;
        let got = match first {
            Ok(Ok(Some(reply))) => reply.chunk.len(),
            Ok(Ok(None)) => 0,
            Ok(Err(s)) => return fail(format!("Get: error {:?}: {}", s.code(), s.message())),
            Err(_) => return fail("Get: no first chunk within the timeout"),
        };
        drop(stream);
        ctx.caller.note(
            format!(
                "{} (round {}; cancelled after the first chunk)",
                get_call(PACKFILE, &mac, None),
                round + 1
            ),
            format!("{got} B, then the stream was cancelled"),
            started,
        );
    }
    must("Ping after the cancels", ctx.caller.ping().await)?;
    get_exact(ctx, PACKFILE, &mac, content).await?;
    Ok(format!(
        "three Gets of {} cancelled after their first chunk; the plugin serves the whole object after",
        mib(content.len)
    ))
}
