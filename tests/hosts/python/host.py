"""The component, loaded in wasmtime-py, with its exports as plain calls."""

import sys
import time
from pathlib import Path

try:
    from wasmtime import Engine, Store, WasiConfig
    from wasmtime.component import Component, Linker, Record, Variant
except ImportError as e:  # tests/host/other_hosts.rs quotes this line
    sys.exit(
        f"run.py: cannot import wasmtime ({e}); install it with: "
        "python3 -m pip install -r tests/hosts/python/requirements.txt"
    )

STORE_INTERFACE = "kloset:store/store@0.4.0"


class StoreError(Exception):
    """A WIT `error` returned by the component; `tag` is its case name."""

    def __init__(self, tag, val):
        shown = val if isinstance(val, str) else vars(val)
        super().__init__(f"{tag}: {shown}")
        self.tag = tag
        self.val = val


def checked(result):
    """wasmtime-py returns a `result`'s error payload rather than raising it:
    an `err(error)` comes back as a `Variant` whose tag is the error case.
    No `ok` value of this world is a `Variant`, so the type tells them apart."""
    if isinstance(result, Variant):
        raise StoreError(result.tag, result.payload)
    return result


class Host:
    """The component's exports as plain calls. Resources are `ResourceAny`
    handles passed as the first argument of their methods; `drop` releases
    one (the guest's destructor runs)."""

    def __init__(self, component_path):
        started = time.perf_counter()
        self.engine = Engine()
        component = Component.from_file(self.engine, str(component_path))
        linker = Linker(self.engine)
        # The world's imports: WASI 0.2 (clocks, random, io, cli) and
        # wasi:http's outgoing handler, all from wasmtime itself.
        linker.add_wasip2()
        linker.add_wasi_http()
        self.store = Store(self.engine)
        self.store.set_wasi(WasiConfig())
        self.store.set_wasi_http()
        self.instance = linker.instantiate(self.store, component)
        self.load_ms = (time.perf_counter() - started) * 1000
        self._funcs = {}

    def func(self, name):
        if name not in self._funcs:
            iface = self.instance.get_export_index(self.store, STORE_INTERFACE)
            index = self.instance.get_export_index(self.store, name, iface)
            if index is None:
                raise RuntimeError(f"the component exports no {name}")
            self._funcs[name] = self.instance.get_func(self.store, index)
        return self._funcs[name]

    def call(self, name, *args):
        return checked(self.func(name)(self.store, *args))

    def open(self, config):
        return self.call("[static]store.from-config", list(config))

    def drop(self, resource):
        resource.drop(self.store)


def byte_range(offset, length):
    """A WIT `byte-range` record: wasmtime-py lowers a `Record` by attribute."""
    r = Record()
    r.offset = offset
    r.length = length
    return r
