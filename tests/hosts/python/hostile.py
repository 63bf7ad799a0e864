"""Hostile cases, as run through wasmtime-py: a scripted registry
(tests/host/other_hosts.rs) sends the store elsewhere. This host has no egress
allow-list of its own, so only the component's origin rules keep the store
on the registry; tests/host/other_hosts.rs checks that the other listener saw
nothing. Mirrors tests/hosts/js/hostile.mjs case for case."""

from cases import check, expect_error, mac, put


def registry_message(e):
    # `registry(registry-failure)`: a Record with status, code, message.
    return getattr(e.val, "message", str(e.val))


def upload_location_elsewhere_is_refused(host, config):
    # The fake answers the upload POST with 202 and a Location on another
    # port: not the registry's origin (scheme, host and port).
    store = host.open(config)
    try:
        e = expect_error(
            "registry",
            lambda: put(host, store, "packfile", mac("hostile upload"), b"x" * 1000, 4096),
            "put with an upload Location on another port",
        )
        check("origin" in registry_message(e), f"the refusal does not say why: {e}")
    finally:
        host.drop(store)


def tag_link_elsewhere_is_refused(host, config):
    # The fake's tag list names its next page on another port.
    store = host.open(config)
    try:
        e = expect_error(
            "registry",
            lambda: host.call("[method]store.list", store, "packfile"),
            "list with a Link on another port",
        )
        check("unusable location" in registry_message(e), f"the refusal does not say why: {e}")
    finally:
        host.drop(store)


HOSTILE = [
    ("upload-location-elsewhere-is-refused", upload_location_elsewhere_is_refused),
    ("tag-link-elsewhere-is-refused", tag_link_elsewhere_is_refused),
]
