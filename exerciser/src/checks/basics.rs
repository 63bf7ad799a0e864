//! Opening a store: Init, Create (once only), Open, Ping, Mode, Size.

use super::{fail, mib, must, Checked, Ctx, PACKFILE};
use crate::data::Pattern;
use crate::wire::show_bytes;

/// The configuration given to Create: opaque bytes, as Kloset's are
/// (binary, a few hundred bytes).
fn config_bytes(seed: u64) -> Vec<u8> {
    let mut bytes = b"plakar-store-exerciser configuration\0".to_vec();
    bytes.extend(Pattern(seed).bytes(0, 260));
    bytes
}

pub async fn init(ctx: &mut Ctx) -> Checked {
    let reply = must(
        "Init",
        ctx.caller.init(&ctx.opts.proto, &ctx.opts.config).await,
    )?;
    Ok(format!(
        "origin {:?}, type {:?}, root {:?}, flags {}",
        reply.origin, reply.r#type, reply.root, reply.flags
    ))
}

pub async fn open_before_create(ctx: &mut Ctx) -> Checked {
    match ctx.caller.open().await {
        Err(e) if e.broken() => fail(format!("Open on an empty location: {e}")),
        Err(e) => Ok(format!("refused: {e}")),
        Ok(config) => fail(format!(
            "Open on a location where nothing was created answered a configuration ({}): \
             the location is not empty, or the plugin makes one up",
            show_bytes(&config)
        )),
    }
}

pub async fn create(ctx: &mut Ctx) -> Checked {
    let config = config_bytes(1);
    must("Create", ctx.caller.create(&config).await)?;
    ctx.created = Some(config.clone());
    Ok(format!(
        "created with a configuration of {} B",
        config.len()
    ))
}

pub async fn create_again_refused(ctx: &mut Ctx) -> Checked {
    let Some(first) = ctx.created.clone() else {
        return fail("no first Create to repeat");
    };
    let second = config_bytes(2);
    let again = ctx.caller.create(&second).await;
    if let Err(e) = &again {
        if e.broken() {
            return fail(format!("the second Create: {e}"));
        }
    }
    let opened = must("Open after the second Create", ctx.caller.open().await)?;
    match again {
        Err(e) if opened[..] == first[..] => Ok(format!("refused: {e}")),
        Err(e) => fail(format!(
            "the second Create was refused ({e}), yet Open no longer returns the first configuration: {}",
            show_bytes(&opened)
        )),
        Ok(()) => {
            let effect = if opened[..] == second[..] {
                ctx.created = Some(second);
                "Open now returns the second configuration: the repository was overwritten"
            } else if opened[..] == first[..] {
                "Open still returns the first configuration"
            } else {
                "Open returns neither configuration"
            };
            fail(format!(
                "a second Create on an existing repository succeeded; {effect}"
            ))
        }
    }
}

pub async fn open(ctx: &mut Ctx) -> Checked {
    let Some(created) = ctx.created.clone() else {
        return fail("nothing was created");
    };
    let opened = must("Open", ctx.caller.open().await)?;
    if opened[..] != created[..] {
        return fail(format!(
            "Open returned {} where Create was given {}",
            show_bytes(&opened),
            show_bytes(&created)
        ));
    }
    if let Err(e) = ctx.restart().await {
        return fail(e);
    }
    let again = must("Open in a new plugin process", ctx.caller.open().await)?;
    if again[..] != created[..] {
        return fail(format!(
            "Open in a new plugin process returned {} where Create was given {}",
            show_bytes(&again),
            show_bytes(&created)
        ));
    }
    Ok(format!(
        "the {} B given to Create, also from a new process",
        created.len()
    ))
}

pub async fn ping(ctx: &mut Ctx) -> Checked {
    must("Ping", ctx.caller.ping().await)?;
    Ok(String::new())
}

pub async fn mode(ctx: &mut Ctx) -> Checked {
    let mode = must("Mode", ctx.caller.mode().await)?;
    // Kloset's storage.Mode: read = 4, write = 2.
    match (mode & 4 != 0, mode & 2 != 0) {
        (true, true) => Ok(format!("mode={mode} (read and write)")),
        (false, _) => fail(format!(
            "mode={mode} lacks read (4): Kloset refuses to read snapshots from such a store"
        )),
        (true, false) => fail(format!(
            "mode={mode} lacks write (2) on a location just created"
        )),
    }
}

pub async fn size(ctx: &mut Ctx) -> Checked {
    let before = must("Size", ctx.caller.size().await)?;
    let added = (2 << 20) + 77;
    ctx.put_new(PACKFILE, "size", 0, added).await?;
    let after = must("Size after a Put", ctx.caller.size().await)?;
    if before == -1 && after == -1 {
        return Ok("-1 (unknown), which plakar accepts".into());
    }
    if before < -1 || after < -1 {
        return fail(format!("Size answered {before} then {after}"));
    }
    if after - before < added as i64 {
        return fail(format!(
            "Size went from {before} to {after} after a Put of {added} B"
        ));
    }
    Ok(format!(
        "{} after a Put of {}; the exerciser keeps {} live",
        mib(after.max(0) as u64),
        mib(added),
        mib(ctx.model.live_bytes())
    ))
}
