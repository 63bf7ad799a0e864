// Runs the store's core conformance cases in Node.js, through the component
// transpiled by jco: the same .wasm our wasmtime host loads, in another host.
//
//   node run.mjs oci://127.0.0.1:PORT/REPO use_tls=false [KEY=VALUE ...]
//
// $KLOSET_HOST_CASES picks the case set: `core` (the default, cases.mjs) or
// `hostile` (hostile.mjs, run against a scripted registry).
//
// Prints one line per case (`ok   NAME (MS ms)` or `FAIL NAME: why`), then a
// summary line; exits 1 when any case failed, 2 on bad usage.
//
// The component comes from $KLOSET_COMPONENT, else the release build of the
// repository this file lives in. It is transpiled into `.transpiled/` next to
// this file (ignored by git), one folder per component digest, so the
// generated code resolves `@bytecodealliance/preview2-shim` from this
// package's node_modules.

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import { transpile } from "@bytecodealliance/jco";
import { cases as core } from "./cases.mjs";
import { hostile } from "./hostile.mjs";

const caseSets = { core, hostile };

const here = dirname(fileURLToPath(import.meta.url));
const defaultComponent = resolve(
  here,
  "../../../target/wasm32-wasip2/release/kloset_oci.wasm",
);

function usage(message) {
  console.error(`run.mjs: ${message}`);
  console.error("usage: node run.mjs LOCATION [KEY=VALUE ...]");
  process.exit(2);
}

function parseArgs(argv) {
  if (argv.length < 1) usage("no store location given");
  const config = [["location", argv[0]]];
  for (const pair of argv.slice(1)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) usage(`option ${JSON.stringify(pair)} is not KEY=VALUE`);
    config.push([pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  return config;
}

/// Transpiles the component once per digest and imports the generated module.
async function loadComponent(path) {
  const bytes = await readFile(path).catch((e) => {
    console.error(
      `run.mjs: cannot read the component at ${path}: ${e.message}\n` +
        "build it first: cargo build --target wasm32-wasip2 --release",
    );
    process.exit(2);
  });
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const outDir = join(here, ".transpiled", digest);
  const entry = join(outDir, "kloset_oci.js");
  const started = performance.now();
  if (!existsSync(entry)) {
    // Written to a side folder and renamed, so a run that dies half-way never
    // leaves a partial transpilation that later runs would trust.
    const partial = `${outDir}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    const { files } = await transpile(bytes, { name: "kloset_oci" });
    for (const [name, content] of Object.entries(files)) {
      const target = join(partial, name);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    await rename(partial, outDir).catch(async (e) => {
      // Another run renamed its copy first: use that one.
      if (!existsSync(entry)) throw e;
      await rm(partial, { recursive: true, force: true });
    });
  }
  const module = await import(pathToFileURL(entry).href);
  return { module, ms: performance.now() - started };
}

async function main() {
  const config = parseArgs(process.argv.slice(2));
  const setName = process.env.KLOSET_HOST_CASES || "core";
  const cases = caseSets[setName];
  if (!cases) usage(`KLOSET_HOST_CASES=${setName}: not one of ${Object.keys(caseSets)}`);
  const componentPath = process.env.KLOSET_COMPONENT || defaultComponent;
  const { module, ms } = await loadComponent(componentPath);
  console.log(`host: jco (node ${process.version}), loaded in ${ms.toFixed(0)} ms`);

  const host = makeHost(module);
  const startedAll = performance.now();
  let failed = 0;
  for (const [name, run] of cases) {
    const started = performance.now();
    try {
      await run(host, config);
      const took = performance.now() - started;
      console.log(`ok   ${name} (${took.toFixed(0)} ms)`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${describe(e)}`);
    }
  }
  const total = performance.now() - startedAll;
  console.log(
    `summary: ${cases.length - failed} of ${cases.length} cases passed ` +
      `in ${total.toFixed(0)} ms`,
  );
  process.exit(failed === 0 ? 0 : 1);
}

/// What the cases need from a host, so they read the same in every host:
/// `open(config)` builds a store; calls that fail throw `StoreError` with the
/// WIT error's case name in `.tag`.
function makeHost(module) {
  const { Store } = module.store;
  return {
    open: (config) => call(() => Store.fromConfig(config)),
    call,
  };
}

/// jco throws a `ComponentError` whose `.payload` is the WIT `error` variant
/// as `{tag, val}`; anything else thrown is a trap or a bug and stays as is.
class StoreError extends Error {
  constructor(tag, val) {
    super(`${tag}: ${typeof val === "string" ? val : JSON.stringify(val)}`);
    this.tag = tag;
    this.val = val;
  }
}

function call(f) {
  try {
    return f();
  } catch (e) {
    const payload = e?.payload;
    if (payload && typeof payload.tag === "string") {
      throw new StoreError(payload.tag, payload.val);
    }
    throw e;
  }
}

function describe(e) {
  // A store error says all there is; for a failed check or a trap, the first
  // stack frame shows where.
  if (e instanceof StoreError) return e.message;
  if (e instanceof Error) {
    const firstStack = (e.stack || "").split("\n")[1]?.trim() ?? "";
    return `${e.message}${firstStack ? ` [${firstStack}]` : ""}`;
  }
  return String(e);
}

main().catch((e) => {
  console.error(`run.mjs: ${e?.stack || e}`);
  process.exit(1);
});
