//! Objects: every resource kind, round trips, ranges, overwrites,
//! deletes, identical bytes under two keys, missing keys, listings.

use super::{
    fail, must, Checked, Ctx, Stop, ECC_PACKFILE, ECC_STATE, KINDS, LOCK, PACKFILE, STATE,
};
use crate::data::{self, Content};
use crate::wire::{key_name, kind_name, Expect};

/// The object the range checks read: 9 MiB and a few bytes, so ranges
/// cross Put's and Get's 1 MiB chunks and one spans more than 4 MiB.
pub const RANGED_LEN: u64 = (9 << 20) + 11;

/// Gets a whole object and holds it to its content.
pub async fn get_exact(ctx: &Ctx, kind: i32, mac: &[u8; 32], content: Content) -> Result<(), Stop> {
    let got = must(
        &format!("Get {} {}", kind_name(kind), key_name(mac)),
        ctx.caller
            .get(kind, mac, None, Some(Expect::whole(content)))
            .await,
    )?;
    if !got.exact() {
        return fail(format!(
            "Get {} {} returned {got}",
            kind_name(kind),
            key_name(mac)
        ));
    }
    Ok(())
}

/// A Get that must fail (the key is not there): an empty success is a
/// lie Kloset cannot tell from an empty object.
pub async fn get_gone(ctx: &Ctx, kind: i32, mac: &[u8; 32], why: &str) -> Result<String, Stop> {
    match ctx.caller.get(kind, mac, None, None).await {
        // Dying or hanging is no refusal: plakar's Get would fail the
        // same way, but with its plugin gone.
        Err(e) if e.broken() => fail(format!(
            "Get {} {} of a key {why}: {e}",
            kind_name(kind),
            key_name(mac)
        )),
        Err(e) => Ok(e.to_string()),
        Ok(got) => fail(format!(
            "Get {} {} of a key {why} succeeded: {got}",
            kind_name(kind),
            key_name(mac)
        )),
    }
}

pub async fn resource_kinds(ctx: &mut Ctx) -> Checked {
    // One MAC under each kind, each with its own bytes.
    let mac = data::mac("resource-kinds", 0);
    let mut contents = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let content = Content::new(
            data::seed("resource-kinds", i as u32 + 1),
            1000 + i as u64 * 333,
        );
        must(
            &format!("Put {}", kind_name(*kind)),
            ctx.caller.put(*kind, &mac, content).await,
        )?;
        ctx.model.put(*kind, mac, content);
        contents.push((*kind, content));
    }
    for (kind, content) in &contents {
        get_exact(ctx, *kind, &mac, *content).await?;
    }
    for kind in KINDS {
        ctx.list_exact(kind).await?;
    }
    must("Delete lock", ctx.caller.delete(LOCK, &mac).await)?;
    ctx.model.delete(LOCK, mac);
    for kind in KINDS {
        ctx.list_exact(kind).await?;
    }
    get_gone(ctx, LOCK, &mac, "deleted").await?;
    get_exact(ctx, PACKFILE, &mac, contents[0].1).await?;
    get_exact(ctx, STATE, &mac, contents[1].1).await?;
    Ok("one MAC under packfile, state and lock: three objects, deleting the lock leaves the others".into())
}

pub async fn ecc_resources(ctx: &mut Ctx) -> Checked {
    let mut said = Vec::new();
    let mut supported = 0;
    for (i, kind) in [ECC_PACKFILE, ECC_STATE].into_iter().enumerate() {
        let mac = data::mac("ecc", i as u32);
        let content = Content::new(data::seed("ecc", i as u32), 4000);
        match ctx.caller.put(kind, &mac, content).await {
            Err(e) if e.broken() => {
                ctx.model.unsure(kind, mac);
                return fail(format!("Put {}: {e}", kind_name(kind)));
            }
            Err(e) => {
                ctx.model.unsure(kind, mac);
                said.push(format!("{}: Put refused ({e})", kind_name(kind)));
                continue;
            }
            Ok(_) => ctx.model.put(kind, mac, content),
        }
        supported += 1;
        get_exact(ctx, kind, &mac, content).await?;
        ctx.list_exact(kind).await?;
        must("Delete", ctx.caller.delete(kind, &mac).await)?;
        ctx.model.delete(kind, mac);
        ctx.list_exact(kind).await?;
        said.push(format!("{}: put, get, list, delete", kind_name(kind)));
    }
    match supported {
        0 => Err(Stop::Unsupported(format!(
            "not supported (Kloset v1.1 does not use them): {}",
            said.join("; ")
        ))),
        2 => Ok(said.join("; ")),
        _ => fail(format!("only one ECC resource works: {}", said.join("; "))),
    }
}

pub async fn round_trips(ctx: &mut Ctx) -> Checked {
    const MIB: u64 = 1 << 20;
    let sizes = [
        0,
        1,
        7,
        4096,
        MIB - 1,
        MIB,
        MIB + 1,
        4 * MIB + 3,
        9 * MIB + 1,
    ];
    // A wrong count is said after the bytes are checked: plakar only
    // adds it to its statistics.
    let mut miscounted = Vec::new();
    for (i, len) in sizes.iter().enumerate() {
        let mac = data::mac("round-trips", i as u32);
        let content = Content::new(data::seed("round-trips", i as u32), *len);
        let written = must(
            &format!("Put of {len} B"),
            ctx.caller.put(PACKFILE, &mac, content).await,
        )?;
        ctx.model.put(PACKFILE, mac, content);
        if written != *len as i64 {
            miscounted.push(format!("{len} B answered bytes_written={written}"));
        }
        get_exact(ctx, PACKFILE, &mac, content).await?;
    }
    // One more with irregular chunks (1 B, a few KiB, just under and at
    // 1 MiB, 3 B...): plakar sends 1 MiB ones, but a plugin must not
    // depend on where a chunk ends.
    const IRREGULAR: &[usize] = &[1, 4093, (1 << 20) - 1, 3, 1 << 20, 65_537, 7];
    let mac = data::mac("round-trips", 100);
    let len = 5 * MIB + 12_345;
    let content = Content::new(data::seed("round-trips", 100), len);
    let written = must(
        &format!("Put of {len} B in irregular chunks"),
        ctx.caller
            .put_irregular(PACKFILE, &mac, content, IRREGULAR)
            .await,
    )?;
    ctx.model.put(PACKFILE, mac, content);
    if written != len as i64 {
        miscounted.push(format!(
            "{len} B in irregular chunks answered bytes_written={written}"
        ));
    }
    get_exact(ctx, PACKFILE, &mac, content).await?;
    ctx.list_exact(PACKFILE).await?;
    if !miscounted.is_empty() {
        return fail(format!(
            "every object reads back exactly, but Put's bytes_written is wrong: {}",
            miscounted.join(", ")
        ));
    }
    Ok(format!(
        "{} sizes from 0 B to 9 MiB + 1 B, and 5 MiB in irregular chunks; bytes_written exact",
        sizes.len()
    ))
}

pub async fn ranges(ctx: &mut Ctx) -> Checked {
    let (mac, content) = ctx.put_new(PACKFILE, "ranges", 0, RANGED_LEN).await?;
    let size = RANGED_LEN;
    let mib = 1u64 << 20;
    let ranges: [(u64, u64, &str); 10] = [
        (0, 1, "the first byte"),
        (0, 4096, "the first 4 KiB"),
        (0, mib + 1, "past the first chunk"),
        (4_500_000, 12_345, "inside"),
        (mib - 7, 3 * mib, "across chunk boundaries"),
        (mib + 5, 4 * mib + 5, "more than 4 MiB (several replies)"),
        (size / 2, 1, "one byte in the middle"),
        (size - 10, 10, "the last 10 bytes"),
        (size - 1, 1, "the last byte"),
        (0, size, "the whole object"),
    ];
    for (offset, len, what) in ranges {
        let got = must(
            &format!("ranged Get ({what})"),
            ctx.caller
                .get(
                    PACKFILE,
                    &mac,
                    Some((offset, len as u32)),
                    Some(Expect::range(content, offset, len)),
                )
                .await,
        )?;
        if !got.exact() {
            return fail(format!(
                "the range {offset}+{len} ({what}) of a {size} B object returned {got}"
            ));
        }
    }
    Ok(format!(
        "{} ranges of a {size} B object, each exact",
        ranges.len()
    ))
}

pub async fn overwrite(ctx: &mut Ctx) -> Checked {
    let mac = data::mac("overwrite", 0);
    let first = Content::new(data::seed("overwrite", 1), 2500);
    let second = Content::new(data::seed("overwrite", 2), 1000);
    for kind in [PACKFILE, LOCK] {
        must("the first Put", ctx.caller.put(kind, &mac, first).await)?;
        ctx.model.put(kind, mac, first);
        must("the second Put", ctx.caller.put(kind, &mac, second).await)?;
        ctx.model.put(kind, mac, second);
        get_exact(ctx, kind, &mac, second).await?;
        ctx.list_exact(kind).await?;
    }
    Ok("a packfile and a lock put twice: the second bytes, listed once".into())
}

pub async fn delete_and_reput(ctx: &mut Ctx) -> Checked {
    let (mac, _) = ctx.put_new(PACKFILE, "delete", 0, 3000).await?;
    // The same MAC as a state, which the delete must leave.
    let state = Content::new(data::seed("delete", 9), 700);
    must("Put state", ctx.caller.put(STATE, &mac, state).await)?;
    ctx.model.put(STATE, mac, state);
    must("Delete", ctx.caller.delete(PACKFILE, &mac).await)?;
    ctx.model.delete(PACKFILE, mac);
    let refused = get_gone(ctx, PACKFILE, &mac, "deleted").await?;
    ctx.list_exact(PACKFILE).await?;
    ctx.list_exact(STATE).await?;
    get_exact(ctx, STATE, &mac, state).await?;
    let twice = match ctx.caller.delete(PACKFILE, &mac).await {
        Err(e) if e.broken() => return fail(format!("a second Delete: {e}")),
        Ok(()) => "a second Delete succeeds".to_string(),
        Err(e) => format!("a second Delete is refused ({e})"),
    };
    let again = Content::new(data::seed("delete", 2), 5000);
    must("Put again", ctx.caller.put(PACKFILE, &mac, again).await)?;
    ctx.model.put(PACKFILE, mac, again);
    get_exact(ctx, PACKFILE, &mac, again).await?;
    ctx.list_exact(PACKFILE).await?;
    Ok(format!(
        "Get after Delete: {refused}; {twice}; put again, read and listed"
    ))
}

pub async fn same_bytes_two_keys(ctx: &mut Ctx) -> Checked {
    let shared = Content::new(data::seed("same-bytes", 0), 70_000);
    let a = data::mac("same-bytes", 1);
    let b = data::mac("same-bytes", 2);
    for (kind, mac) in [(PACKFILE, a), (PACKFILE, b), (STATE, a)] {
        must(
            &format!("Put {} {}", kind_name(kind), key_name(&mac)),
            ctx.caller.put(kind, &mac, shared).await,
        )?;
        ctx.model.put(kind, mac, shared);
    }
    must("Delete", ctx.caller.delete(PACKFILE, &a).await)?;
    ctx.model.delete(PACKFILE, a);
    // Both others are read, so the report says all that went with it.
    let mut lost = Vec::new();
    for (kind, mac) in [(PACKFILE, b), (STATE, a)] {
        let what = format!("{} {}", kind_name(kind), key_name(&mac));
        match ctx
            .caller
            .get(kind, &mac, None, Some(Expect::whole(shared)))
            .await
        {
            Ok(got) if got.exact() => {}
            Ok(got) => {
                ctx.model.unsure(kind, mac);
                lost.push(format!("{what} now returns {got}"));
            }
            Err(e) => {
                ctx.model.unsure(kind, mac);
                lost.push(format!("{what} is gone ({e})"));
            }
        }
    }
    if !lost.is_empty() {
        return fail(format!(
            "deleting packfile {} took other keys holding the same bytes: {}",
            key_name(&a),
            lost.join("; ")
        ));
    }
    get_gone(ctx, PACKFILE, &a, "deleted").await?;
    ctx.list_exact(PACKFILE).await?;
    ctx.list_exact(STATE).await?;
    Ok(
        "the same 70,000 B under two packfiles and a state: deleting one packfile keeps the rest"
            .into(),
    )
}

pub async fn missing_object(ctx: &mut Ctx) -> Checked {
    let mac = data::mac("missing", 0);
    let mut said = Vec::new();
    for kind in KINDS {
        said.push(format!(
            "{}: {}",
            kind_name(kind),
            get_gone(ctx, kind, &mac, "never put").await?
        ));
    }
    let delete = match ctx.caller.delete(PACKFILE, &mac).await {
        Err(e) if e.broken() => return fail(format!("Delete of a key never put: {e}")),
        Ok(()) => "Delete of it succeeds".to_string(),
        Err(e) => format!("Delete of it is refused ({e})"),
    };
    Ok(format!("Get refused ({}); {delete}", said[0]))
}

pub async fn list_exact(ctx: &mut Ctx) -> Checked {
    // More keys than a registry's page of 7 or 50 or 100 tags (a tag
    // per key, a page of 100 needs 101): listings that page are held
    // to the same exactness.
    const PER_KIND: u32 = 120;
    for kind in KINDS {
        for n in 0..PER_KIND {
            // The same MACs in every kind.
            let mac = data::mac("list", n);
            let content = Content::new(data::seed("list", n) ^ kind as u64, 64 + n as u64);
            must(
                &format!("Put {} {}", kind_name(kind), key_name(&mac)),
                ctx.caller.put(kind, &mac, content).await,
            )?;
            ctx.model.put(kind, mac, content);
        }
        ctx.caller.progress(&format!(
            "    list-exact: {PER_KIND} {}s put",
            kind_name(kind)
        ));
    }
    let mut counts = Vec::new();
    for kind in KINDS {
        let listed = ctx.list_exact(kind).await?;
        counts.push(format!("{} {}", listed.len(), kind_name(kind)));
    }
    Ok(format!(
        "{PER_KIND} more keys of each kind; listed: {}",
        counts.join(", ")
    ))
}
