// The core conformance cases, as run through jco. They mirror
// tests/store/conformance (contract.rs, errors.rs) and tests/hosts/python/cases.py,
// case for case and name for name: tests/host/other_hosts.rs checks that every
// host reports the same list.
//
// The cases run in order and share one repository: `create` makes it, the
// later ones read what the earlier ones wrote.

import { createHash, randomBytes } from "node:crypto";

const KINDS = ["packfile", "state", "lock", "ecc-packfile", "ecc-state"];
const MIB = 1 << 20;
/// Past the component's 8 MiB buffering threshold, so the put streams.
const LARGE = 9 * MIB + 7;
/// An odd chunk size, so chunk edges fall nowhere in particular.
const LARGE_CHUNK = MIB + 13;
const CONFIG = new TextEncoder().encode("kloset configuration bytes, from the jco host");

export function mac(seed) {
  return new Uint8Array(createHash("sha256").update(`kloset host case ${seed}`).digest());
}

function hex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

function sameBytes(got, want, what) {
  check(
    got.length === want.length && Buffer.from(got).equals(Buffer.from(want)),
    `${what}: got ${got.length} bytes, want ${want.length} (or the bytes differ)`,
  );
}

/// Runs `f` and checks that it fails with the WIT error case `tag`.
export function expectError(tag, f, what) {
  try {
    f();
  } catch (e) {
    // Through host.call the error carries `.tag`; straight from jco, the
    // ComponentError carries it in `.payload`.
    const got = e.tag ?? e.payload?.tag;
    if (got === tag) return e;
    throw new Error(`${what}: want ${tag}, got ${got ?? e}`);
  }
  throw new Error(`${what}: want ${tag}, but it succeeded`);
}

export function put(host, store, kind, key, data, chunkSize) {
  const writer = host.call(() => store.put(kind, key));
  try {
    for (let at = 0; at < data.length; at += chunkSize) {
      const chunk = data.subarray(at, Math.min(at + chunkSize, data.length));
      host.call(() => writer.write(chunk));
    }
    const written = host.call(() => writer.finish());
    check(written === BigInt(data.length), `finish said ${written}, wrote ${data.length}`);
  } finally {
    writer[Symbol.dispose]();
  }
}

/// Reads a reader to its end (the empty list), never taking more than `max`
/// at a time; the end is where a whole read checks the digest.
function readAll(host, reader, max) {
  const parts = [];
  try {
    for (;;) {
      const chunk = host.call(() => reader.read(max));
      check(chunk.length <= max, `read(${max}) returned ${chunk.length} bytes`);
      if (chunk.length === 0) break;
      parts.push(chunk);
    }
  } finally {
    reader[Symbol.dispose]();
  }
  return Buffer.concat(parts);
}

function get(host, store, kind, key, range, max = MIB) {
  const r = range && { offset: BigInt(range[0]), length: range[1] };
  return readAll(host, host.call(() => store.get(kind, key, r)), max);
}

function sortedHex(macs) {
  return macs.map(hex).sort();
}

function withLocation(config, location) {
  return [["location", location], ...config.filter(([k]) => k !== "location")];
}

// What the cases share: the store handle and the objects written so far.
const state = {
  store: null,
  // kind -> Map(hex MAC -> bytes): what each kind should hold.
  objects: new Map(KINDS.map((k) => [k, new Map()])),
  large: null,
};

function remember(kind, key, data) {
  state.objects.get(kind).set(hex(key), { key, data });
}

export const cases = [
  [
    "invalid-config",
    (host, config) => {
      const bad = [
        [["location", "s3://bucket"]],
        [["location", "oci://127.0.0.1"]],
        [["location", "oci://127.0.0.1/UPPER"]],
        [["location", "oci://127.0.0.1:70000/x"]],
        [["location", "oci://127.0.0.1/x"], ["use_tls", "perhaps"]],
        [["location", "oci://127.0.0.1/x"], ["colour", "blue"]],
        config.filter(([k]) => k !== "location"),
      ];
      for (const pairs of bad) {
        expectError("invalid-config", () => host.open(pairs), JSON.stringify(pairs));
      }
      // Credentials in the location are refused by the component itself
      // (this host has no egress of its own), and never quoted back.
      const e = expectError(
        "invalid-config",
        () => host.open([["location", "oci://ci:tok/en==@127.0.0.1/x"]]),
        "credentials in the location",
      );
      const text = JSON.stringify(e.val ?? e.payload?.val ?? String(e));
      if (text.includes("tok/en==")) throw new Error(`the secret was quoted back: ${text}`);
    },
  ],
  [
    "open-before-create-is-not-found",
    (host, config) => {
      const store = host.open(config);
      expectError("not-found", () => store.open(), "open of an empty location");
      store[Symbol.dispose]();
    },
  ],
  [
    "create",
    (host, config) => {
      const store = host.open(config);
      host.call(() => store.create(CONFIG));
      expectError("already-exists", () => store.create(CONFIG), "second create, same store");
      const other = host.open(config);
      expectError("already-exists", () => other.create(CONFIG), "create over a repository");
      other[Symbol.dispose]();
      state.store = store;
    },
  ],
  [
    "open-returns-the-config",
    (host, config) => {
      const store = host.open(config);
      sameBytes(host.call(() => store.open()), CONFIG, "open");
      store[Symbol.dispose]();
    },
  ],
  [
    "ping-and-identity",
    (host, config) => {
      const store = host.open(config);
      host.call(() => store.ping());
      const location = new URL(config.find(([k]) => k === "location")[1]);
      check(store.type() === "oci", `type ${store.type()}`);
      check(store.origin() === location.host, `origin ${store.origin()}, want ${location.host}`);
      check(
        store.root() === location.pathname.slice(1),
        `root ${store.root()}, want ${location.pathname.slice(1)}`,
      );
      check(store.flags() === 0, `flags ${store.flags()}`);
      check(host.call(() => store.mode()) === 6, "mode: read and write");
      store[Symbol.dispose]();
    },
  ],
  [
    "put-small",
    (host) => {
      // Every kind: an empty object, a lock-sized one, a state-sized one in
      // several chunks; the first under one MAC shared by all kinds (each kind
      // is its own key space).
      const shared = mac("shared");
      for (const kind of KINDS) {
        [0, 300, 100_000].forEach((size, i) => {
          const key = i === 0 ? shared : mac(`${kind} ${size}`);
          const data = randomBytes(size);
          put(host, state.store, kind, key, data, 4096 * (i + 1) + 1);
          remember(kind, key, data);
        });
      }
    },
  ],
  [
    "put-large-streamed",
    (host) => {
      const key = mac("large packfile");
      const data = randomBytes(LARGE);
      put(host, state.store, "packfile", key, data, LARGE_CHUNK);
      remember("packfile", key, data);
      state.large = { key, data };
    },
  ],
  [
    "list-per-kind",
    (host, config) => {
      const fresh = host.open(config);
      for (const kind of KINDS) {
        const listed = host.call(() => fresh.list(kind));
        const want = [...state.objects.get(kind).values()].map((o) => o.key);
        check(
          JSON.stringify(sortedHex(listed)) === JSON.stringify(sortedHex(want)),
          `list ${kind}: got ${listed.length} keys, want ${want.length} (or other keys)`,
        );
      }
      fresh[Symbol.dispose]();
    },
  ],
  [
    "get-whole",
    (host, config) => {
      const fresh = host.open(config);
      for (const kind of KINDS) {
        for (const { key, data } of state.objects.get(kind).values()) {
          // Small reads for small objects, so reads of several pieces happen.
          const max = data.length > MIB ? MIB : 4099;
          sameBytes(get(host, fresh, kind, key, null, max), data, `${kind} ${data.length}`);
        }
      }
      fresh[Symbol.dispose]();
    },
  ],
  [
    "get-range",
    (host, config) => {
      const fresh = host.open(config);
      const { key, data } = state.large;
      const ranges = [
        [0, 1],
        [0, 100],
        [8 * MIB - 10, 20],
        [3 * MIB + 5, 2 * MIB],
        [data.length - 50, 50],
        [data.length - 1, 1],
      ];
      for (const [offset, length] of ranges) {
        const got = get(host, fresh, "packfile", key, [offset, length], 65536);
        sameBytes(got, data.subarray(offset, offset + length), `range ${offset}+${length}`);
      }
      const small = [...state.objects.get("state").values()].find((o) => o.data.length === 300);
      sameBytes(
        get(host, state.store, "state", small.key, [5, 9]),
        small.data.subarray(5, 14),
        "range of a small state",
      );
      fresh[Symbol.dispose]();
    },
  ],
  [
    "put-overwrites",
    (host, config) => {
      const key = mac("lock to refresh");
      const first = new TextEncoder().encode("lock taken at 10:00");
      const second = new TextEncoder().encode("lock refreshed at 10:05, longer");
      put(host, state.store, "lock", key, first, 7);
      put(host, state.store, "lock", key, second, 7);
      remember("lock", key, second);
      const fresh = host.open(config);
      sameBytes(get(host, fresh, "lock", key, null), second, "overwritten lock");
      sameBytes(get(host, fresh, "lock", key, [5, 9]), second.subarray(5, 14), "its range");
      const listed = sortedHex(host.call(() => fresh.list("lock")));
      check(listed.filter((m) => m === hex(key)).length === 1, "listed once");
      fresh[Symbol.dispose]();
    },
  ],
  [
    "get-missing-is-not-found",
    (host) => {
      const missing = mac("never written");
      for (const kind of KINDS) {
        expectError("not-found", () => state.store.get(kind, missing, undefined), `${kind}`);
        expectError(
          "not-found",
          () => state.store.get(kind, missing, { offset: 0n, length: 1 }),
          `${kind} ranged`,
        );
      }
      // A key present as a state is missing as a lock.
      const stateOnly = mac("state 300");
      expectError("not-found", () => state.store.get("lock", stateOnly, undefined), "lock");
    },
  ],
  [
    "delete",
    (host, config) => {
      const { key } = state.large;
      const small = [...state.objects.get("state").values()].find((o) => o.data.length === 300);
      for (const [kind, k] of [
        ["packfile", key],
        ["state", small.key],
      ]) {
        host.call(() => state.store.delete(kind, k));
        state.objects.get(kind).delete(hex(k));
        const fresh = host.open(config);
        for (const view of [state.store, fresh]) {
          expectError("not-found", () => view.get(kind, k, undefined), `get ${kind} after delete`);
          const listed = sortedHex(host.call(() => view.list(kind)));
          check(!listed.includes(hex(k)), `list ${kind} still shows the deleted key`);
          const want = sortedHex([...state.objects.get(kind).values()].map((o) => o.key));
          check(JSON.stringify(listed) === JSON.stringify(want), `list ${kind} after delete`);
        }
        fresh[Symbol.dispose]();
        host.call(() => state.store.delete(kind, k)); // deleting twice succeeds
      }
      host.call(() => state.store.delete("lock", mac("never existed")));
    },
  ],
  [
    "invalid-argument",
    (host) => {
      const store = state.store;
      const short = mac("short").subarray(0, 31);
      expectError("invalid-argument", () => store.put("state", short), "put with a 31-byte MAC");
      expectError("invalid-argument", () => store.get("state", short, undefined), "get, 31-byte MAC");
      expectError("invalid-argument", () => store.delete("state", short), "delete, 31-byte MAC");
      const { key, data } = [...state.objects.get("state").values()].find(
        (o) => o.data.length === 100_000,
      );
      expectError(
        "invalid-argument",
        () => store.get("state", key, { offset: BigInt(data.length - 10), length: 11 }),
        "range past the end",
      );
      const writer = host.call(() => store.put("lock", mac("finished writer")));
      host.call(() => writer.write(new Uint8Array([1, 2, 3])));
      host.call(() => writer.finish());
      expectError("invalid-argument", () => writer.write(new Uint8Array([4])), "write after finish");
      expectError("invalid-argument", () => writer.finish(), "finish twice");
      writer[Symbol.dispose]();
      host.call(() => store.delete("lock", mac("finished writer")));
    },
  ],
  [
    "close",
    (host) => {
      const store = state.store;
      host.call(() => store.close());
      const someState = [...state.objects.get("state").values()][0];
      for (const [what, f] of [
        ["get", () => store.get("state", someState.key, undefined)],
        ["list", () => store.list("state")],
        ["put", () => store.put("state", mac("after close"))],
      ]) {
        let failed = false;
        try {
          host.call(f);
        } catch (e) {
          check(e.tag !== undefined, `${what} after close: not a store error: ${e}`);
          failed = true;
        }
        check(failed, `${what} after close succeeded`);
      }
      store[Symbol.dispose]();
    },
  ],
];
