"""Runs the store's core conformance cases in Python, through the `wasmtime`
package (wasmtime-py): the same .wasm our Rust host loads, in another host.

    python3 run.py oci://127.0.0.1:PORT/REPO use_tls=false [KEY=VALUE ...]

$KLOSET_HOST_CASES picks the case set: `core` (the default, cases.py) or
`hostile` (hostile.py, run against a scripted registry).

Prints one line per case (`ok   NAME (MS ms)` or `FAIL NAME: why`), then a
summary line; exits 1 when any case failed, 2 on bad usage.

The component comes from $KLOSET_COMPONENT, else the release build of the
repository this file lives in.
"""

import os
import sys
import time
import traceback
from importlib.metadata import version
from pathlib import Path

from host import Host, StoreError  # first: it explains a missing wasmtime
from cases import CASES
from hostile import HOSTILE

CASE_SETS = {"core": CASES, "hostile": HOSTILE}

HERE = Path(__file__).resolve().parent
DEFAULT_COMPONENT = HERE / "../../../target/wasm32-wasip2/release/kloset_oci.wasm"


def parse_args(argv):
    if not argv:
        usage("no store location given")
    config = [("location", argv[0])]
    for pair in argv[1:]:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            usage(f"option {pair!r} is not KEY=VALUE")
        config.append((key, value))
    return config


def usage(message):
    print(f"run.py: {message}", file=sys.stderr)
    print("usage: python3 run.py LOCATION [KEY=VALUE ...]", file=sys.stderr)
    sys.exit(2)


def describe(e):
    if isinstance(e, StoreError):
        return str(e)
    frame = traceback.extract_tb(e.__traceback__)[-1]
    return f"{type(e).__name__}: {e} [{Path(frame.filename).name}:{frame.lineno}]"


def main():
    config = parse_args(sys.argv[1:])
    set_name = os.environ.get("KLOSET_HOST_CASES") or "core"
    if set_name not in CASE_SETS:
        usage(f"KLOSET_HOST_CASES={set_name}: not one of {', '.join(CASE_SETS)}")
    cases = CASE_SETS[set_name]
    path = Path(os.environ.get("KLOSET_COMPONENT") or DEFAULT_COMPONENT)
    if not path.is_file():
        print(
            f"run.py: no component at {path}\n"
            "build it first: cargo build --target wasm32-wasip2 --release",
            file=sys.stderr,
        )
        sys.exit(2)
    host = Host(path)
    print(f"host: wasmtime-py {version('wasmtime')} (python {sys.version.split()[0]}), "
          f"loaded in {host.load_ms:.0f} ms")

    failed = 0
    started_all = time.perf_counter()
    for name, run in cases:
        started = time.perf_counter()
        try:
            run(host, config)
            print(f"ok   {name} ({(time.perf_counter() - started) * 1000:.0f} ms)", flush=True)
        except Exception as e:  # a failed case is reported, the next one runs
            failed += 1
            print(f"FAIL {name}: {describe(e)}", flush=True)
    total = (time.perf_counter() - started_all) * 1000
    print(f"summary: {len(cases) - failed} of {len(cases)} cases passed in {total:.0f} ms")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
