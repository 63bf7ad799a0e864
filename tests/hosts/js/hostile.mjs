// Hostile cases, as run through jco: a scripted registry
// (tests/host/other_hosts.rs) sends the store elsewhere. This host has no egress
// allow-list of its own, so only the component's origin rules keep the store
// on the registry; tests/host/other_hosts.rs checks that the other listener saw
// nothing. Mirrors tests/hosts/python/hostile.py case for case.

import { check, expectError, mac, put } from "./cases.mjs";

/// `registry(registry-failure)` carries `{status, code, message}`.
function registryMessage(e) {
  return e.val?.message ?? String(e);
}

export const hostile = [
  [
    "upload-location-elsewhere-is-refused",
    (host, config) => {
      // The fake answers the upload POST with 202 and a Location on another
      // port: not the registry's origin (scheme, host and port).
      const store = host.open(config);
      try {
        const e = expectError(
          "registry",
          () => put(host, store, "packfile", mac("hostile upload"), new Uint8Array(1000), 4096),
          "put with an upload Location on another port",
        );
        check(registryMessage(e).includes("origin"), `the refusal does not say why: ${e.message}`);
      } finally {
        store[Symbol.dispose]();
      }
    },
  ],
  [
    "tag-link-elsewhere-is-refused",
    (host, config) => {
      // The fake's tag list names its next page on another port.
      const store = host.open(config);
      try {
        const e = expectError(
          "registry",
          () => host.call(() => store.list("packfile")),
          "list with a Link on another port",
        );
        check(
          registryMessage(e).includes("unusable location"),
          `the refusal does not say why: ${e.message}`,
        );
      } finally {
        store[Symbol.dispose]();
      }
    },
  ],
];
