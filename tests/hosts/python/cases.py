"""The core conformance cases, as run through wasmtime-py. They mirror
tests/store/conformance (contract.rs, errors.rs) and tests/hosts/js/cases.mjs, case
for case and name for name: tests/host/other_hosts.rs checks that every host
reports the same list.

The cases run in order and share one repository: `create` makes it, the later
ones read what the earlier ones wrote.
"""

import hashlib
import os
from urllib.parse import urlsplit

from host import StoreError, byte_range

KINDS = ["packfile", "state", "lock", "ecc-packfile", "ecc-state"]
MIB = 1 << 20
# Past the component's 8 MiB buffering threshold, so the put streams.
LARGE = 9 * MIB + 7
# An odd chunk size, so chunk edges fall nowhere in particular.
LARGE_CHUNK = MIB + 13
CONFIG = b"kloset configuration bytes, from the wasmtime-py host"


def mac(seed):
    return hashlib.sha256(f"kloset host case {seed}".encode()).digest()


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def same_bytes(got, want, what):
    check(
        got == want,
        f"{what}: got {len(got)} bytes, want {len(want)} (or the bytes differ)",
    )


def expect_error(tag, f, what):
    """Runs `f` and checks that it fails with the WIT error case `tag`."""
    try:
        f()
    except StoreError as e:
        check(e.tag == tag, f"{what}: want {tag}, got {e}")
        return e
    raise CheckFailed(f"{what}: want {tag}, but it succeeded")


def put(host, store, kind, key, data, chunk_size):
    writer = host.call("[method]store.put", store, kind, key)
    try:
        for at in range(0, len(data), chunk_size):
            host.call("[method]writer.write", writer, data[at : at + chunk_size])
        written = host.call("[method]writer.finish", writer)
        check(written == len(data), f"finish said {written}, wrote {len(data)}")
    finally:
        host.drop(writer)


def read_all(host, reader, max_len):
    """Reads a reader to its end (the empty list), never taking more than
    `max_len` at a time; the end is where a whole read checks the digest."""
    parts = []
    try:
        while True:
            chunk = host.call("[method]reader.read", reader, max_len)
            check(len(chunk) <= max_len, f"read({max_len}) returned {len(chunk)} bytes")
            if not chunk:
                break
            parts.append(chunk)
    finally:
        host.drop(reader)
    return b"".join(parts)


def get(host, store, kind, key, rng=None, max_len=MIB):
    wit_range = byte_range(*rng) if rng else None
    reader = host.call("[method]store.get", store, kind, key, wit_range)
    return read_all(host, reader, max_len)


def sorted_hex(macs):
    return sorted(m.hex() for m in macs)


class Shared:
    """What the cases share: the store handle and the objects written so far."""

    store = None
    # kind -> {hex MAC: (key, bytes)}: what each kind should hold.
    objects = {kind: {} for kind in KINDS}
    large = None


def remember(kind, key, data):
    Shared.objects[kind][key.hex()] = (key, data)


def find(kind, size):
    return next((k, d) for k, d in Shared.objects[kind].values() if len(d) == size)


def invalid_config(host, config):
    bad = [
        [("location", "s3://bucket")],
        [("location", "oci://127.0.0.1")],
        [("location", "oci://127.0.0.1/UPPER")],
        [("location", "oci://127.0.0.1:70000/x")],
        [("location", "oci://127.0.0.1/x"), ("use_tls", "perhaps")],
        [("location", "oci://127.0.0.1/x"), ("colour", "blue")],
        [(k, v) for k, v in config if k != "location"],
    ]
    for pairs in bad:
        expect_error("invalid-config", lambda: host.open(pairs), repr(pairs))
    # Credentials in the location are refused by the component itself (this
    # host has no egress of its own), and never quoted back.
    e = expect_error(
        "invalid-config",
        lambda: host.open([("location", "oci://ci:tok/en==@127.0.0.1/x")]),
        "credentials in the location",
    )
    check("tok/en==" not in str(e), f"the secret was quoted back: {e}")


def open_before_create_is_not_found(host, config):
    store = host.open(config)
    expect_error("not-found", lambda: host.call("[method]store.open", store), "open")
    host.drop(store)


def create(host, config):
    store = host.open(config)
    host.call("[method]store.create", store, CONFIG)
    expect_error(
        "already-exists",
        lambda: host.call("[method]store.create", store, CONFIG),
        "second create, same store",
    )
    other = host.open(config)
    expect_error(
        "already-exists",
        lambda: host.call("[method]store.create", other, CONFIG),
        "create over a repository",
    )
    host.drop(other)
    Shared.store = store


def open_returns_the_config(host, config):
    store = host.open(config)
    same_bytes(host.call("[method]store.open", store), CONFIG, "open")
    host.drop(store)


def ping_and_identity(host, config):
    store = host.open(config)
    host.call("[method]store.ping", store)
    location = urlsplit(dict(config)["location"])
    got_type = host.call("[method]store.type", store)
    check(got_type == "oci", f"type {got_type}")
    origin = host.call("[method]store.origin", store)
    check(origin == location.netloc, f"origin {origin}, want {location.netloc}")
    root = host.call("[method]store.root", store)
    check(root == location.path[1:], f"root {root}, want {location.path[1:]}")
    flags = host.call("[method]store.flags", store)
    check(flags == 0, f"flags {flags}")
    check(host.call("[method]store.mode", store) == 6, "mode: read and write")
    host.drop(store)


def put_small(host, _config):
    # Every kind: an empty object, a lock-sized one, a state-sized one in
    # several chunks; the first under one MAC shared by all kinds (each kind
    # is its own key space).
    shared = mac("shared")
    for kind in KINDS:
        for i, size in enumerate([0, 300, 100_000]):
            key = shared if i == 0 else mac(f"{kind} {size}")
            data = os.urandom(size)
            put(host, Shared.store, kind, key, data, 4096 * (i + 1) + 1)
            remember(kind, key, data)


def put_large_streamed(host, _config):
    key = mac("large packfile")
    data = os.urandom(LARGE)
    put(host, Shared.store, "packfile", key, data, LARGE_CHUNK)
    remember("packfile", key, data)
    Shared.large = (key, data)


def list_per_kind(host, config):
    fresh = host.open(config)
    for kind in KINDS:
        listed = host.call("[method]store.list", fresh, kind)
        want = [key for key, _ in Shared.objects[kind].values()]
        check(
            sorted_hex(listed) == sorted_hex(want),
            f"list {kind}: got {len(listed)} keys, want {len(want)} (or other keys)",
        )
    host.drop(fresh)


def get_whole(host, config):
    fresh = host.open(config)
    for kind in KINDS:
        for key, data in Shared.objects[kind].values():
            # Small reads for small objects, so reads of several pieces happen.
            max_len = MIB if len(data) > MIB else 4099
            got = get(host, fresh, kind, key, None, max_len)
            same_bytes(got, data, f"{kind} {len(data)}")
    host.drop(fresh)


def get_range(host, config):
    fresh = host.open(config)
    key, data = Shared.large
    ranges = [
        (0, 1),
        (0, 100),
        (8 * MIB - 10, 20),
        (3 * MIB + 5, 2 * MIB),
        (len(data) - 50, 50),
        (len(data) - 1, 1),
    ]
    for offset, length in ranges:
        got = get(host, fresh, "packfile", key, (offset, length), 65536)
        same_bytes(got, data[offset : offset + length], f"range {offset}+{length}")
    small_key, small = find("state", 300)
    same_bytes(
        get(host, Shared.store, "state", small_key, (5, 9)),
        small[5:14],
        "range of a small state",
    )
    host.drop(fresh)


def put_overwrites(host, config):
    key = mac("lock to refresh")
    first = b"lock taken at 10:00"
    second = b"lock refreshed at 10:05, longer"
    put(host, Shared.store, "lock", key, first, 7)
    put(host, Shared.store, "lock", key, second, 7)
    remember("lock", key, second)
    fresh = host.open(config)
    same_bytes(get(host, fresh, "lock", key), second, "overwritten lock")
    same_bytes(get(host, fresh, "lock", key, (5, 9)), second[5:14], "its range")
    listed = sorted_hex(host.call("[method]store.list", fresh, "lock"))
    check(listed.count(key.hex()) == 1, "listed once")
    host.drop(fresh)


def get_missing_is_not_found(host, _config):
    store = Shared.store
    missing = mac("never written")
    for kind in KINDS:
        expect_error(
            "not-found",
            lambda: host.call("[method]store.get", store, kind, missing, None),
            kind,
        )
        expect_error(
            "not-found",
            lambda: host.call("[method]store.get", store, kind, missing, byte_range(0, 1)),
            f"{kind} ranged",
        )
    # A key present as a state is missing as a lock.
    state_only = mac("state 300")
    expect_error(
        "not-found",
        lambda: host.call("[method]store.get", store, "lock", state_only, None),
        "lock",
    )


def delete(host, config):
    store = Shared.store
    large_key, _ = Shared.large
    small_key, _ = find("state", 300)
    for kind, key in [("packfile", large_key), ("state", small_key)]:
        host.call("[method]store.delete", store, kind, key)
        del Shared.objects[kind][key.hex()]
        fresh = host.open(config)
        for view in [store, fresh]:
            expect_error(
                "not-found",
                lambda: host.call("[method]store.get", view, kind, key, None),
                f"get {kind} after delete",
            )
            listed = sorted_hex(host.call("[method]store.list", view, kind))
            check(key.hex() not in listed, f"list {kind} still shows the deleted key")
            want = sorted_hex(k for k, _ in Shared.objects[kind].values())
            check(listed == want, f"list {kind} after delete")
        host.drop(fresh)
        host.call("[method]store.delete", store, kind, key)  # deleting twice succeeds
    host.call("[method]store.delete", store, "lock", mac("never existed"))


def invalid_argument(host, _config):
    store = Shared.store
    short = mac("short")[:31]
    expect_error(
        "invalid-argument",
        lambda: host.call("[method]store.put", store, "state", short),
        "put with a 31-byte MAC",
    )
    expect_error(
        "invalid-argument",
        lambda: host.call("[method]store.get", store, "state", short, None),
        "get, 31-byte MAC",
    )
    expect_error(
        "invalid-argument",
        lambda: host.call("[method]store.delete", store, "state", short),
        "delete, 31-byte MAC",
    )
    key, data = find("state", 100_000)
    expect_error(
        "invalid-argument",
        lambda: host.call(
            "[method]store.get", store, "state", key, byte_range(len(data) - 10, 11)
        ),
        "range past the end",
    )
    done = mac("finished writer")
    writer = host.call("[method]store.put", store, "lock", done)
    host.call("[method]writer.write", writer, bytes([1, 2, 3]))
    host.call("[method]writer.finish", writer)
    expect_error(
        "invalid-argument",
        lambda: host.call("[method]writer.write", writer, bytes([4])),
        "write after finish",
    )
    expect_error(
        "invalid-argument",
        lambda: host.call("[method]writer.finish", writer),
        "finish twice",
    )
    host.drop(writer)
    host.call("[method]store.delete", store, "lock", done)


def close(host, _config):
    store = Shared.store
    host.call("[method]store.close", store)
    some_key, _ = next(iter(Shared.objects["state"].values()))
    for what, f in [
        ("get", lambda: host.call("[method]store.get", store, "state", some_key, None)),
        ("list", lambda: host.call("[method]store.list", store, "state")),
        ("put", lambda: host.call("[method]store.put", store, "state", mac("after close"))),
    ]:
        try:
            f()
        except StoreError:
            continue
        raise CheckFailed(f"{what} after close succeeded")
    host.drop(store)


CASES = [
    ("invalid-config", invalid_config),
    ("open-before-create-is-not-found", open_before_create_is_not_found),
    ("create", create),
    ("open-returns-the-config", open_returns_the_config),
    ("ping-and-identity", ping_and_identity),
    ("put-small", put_small),
    ("put-large-streamed", put_large_streamed),
    ("list-per-kind", list_per_kind),
    ("get-whole", get_whole),
    ("get-range", get_range),
    ("put-overwrites", put_overwrites),
    ("get-missing-is-not-found", get_missing_is_not_found),
    ("delete", delete),
    ("invalid-argument", invalid_argument),
    ("close", close),
]
