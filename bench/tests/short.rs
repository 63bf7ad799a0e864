//! The bench in its short mode, as CI runs it: against a real registry it
//! starts itself, it must finish and write a complete, well-formed report.
//! Timings are not judged here (a loaded CI machine says nothing about them);
//! request counts are, since they do not depend on load.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

fn positive(value: &Value, what: &str) {
    let n = number(value, what);
    assert!(n.is_finite() && n > 0.0, "{what} = {n}");
}

#[test]
fn the_short_bench_writes_a_complete_report() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_kloset-bench"))
        .arg("--short")
        .args([
            "--only",
            "large,locks,list,concurrent-put,concurrent-ranged",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("kloset-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kloset-bench failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| workload |"),
        "no table printed:\n{stdout}"
    );

    let report: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report was written"))
            .expect("the report is JSON");
    assert_eq!(report["mode"], "short");

    let rows = report["rows"].as_array().expect("rows");
    let concurrency = report["params"]["concurrency"]
        .as_array()
        .expect("concurrency levels")
        .len();
    // put, whole get, ranged get, lock cycle, list, then each level twice.
    assert_eq!(rows.len(), 5 + 2 * concurrency, "rows: {rows:#?}");
    for row in rows {
        let name = row["workload"].as_str().expect("a workload name");
        for path in ["component", "baseline"] {
            let s = &row[path];
            positive(&s["ops"], &format!("{name} {path} ops"));
            positive(&s["seconds"], &format!("{name} {path} seconds"));
            positive(&s["ops_per_s"], &format!("{name} {path} ops/s"));
            positive(&s["p50_ms"], &format!("{name} {path} p50"));
            assert!(number(&s["p99_ms"], "p99") >= number(&s["p50_ms"], "p50"));
            positive(&s["requests_per_op"], &format!("{name} {path} requests"));
        }
        positive(&row["ratio"], &format!("{name} ratio"));
        positive(
            &row["component"]["guest_peak_memory_bytes"],
            &format!("{name} guest memory"),
        );
        assert!(row["baseline"]["guest_peak_memory_bytes"].is_null());
    }

    let speedups = report["speedups"].as_array().expect("speed-ups");
    assert_eq!(speedups.len(), 2);
    for s in speedups {
        positive(&s["component"], "component speed-up");
        positive(&s["baseline"], "baseline speed-up");
    }
    positive(&report["sha256"]["guest_mib_per_s"], "guest sha256");
    positive(&report["sha256"]["native_mib_per_s"], "native sha256");
    for key in ["cold_ms", "cached_load_ms", "instantiate_ms", "cached_ms"] {
        positive(&report["startup"][key], key);
    }

    // Request counts do not depend on timing: both paths must make exactly
    // the requests the store sets.
    let goals = report["goals"].as_array().expect("goals");
    assert!(goals.len() > rows.len());
    for goal in goals {
        let name = goal["goal"].as_str().expect("a goal name");
        assert!(goal["met"].is_boolean(), "{name}");
        if name.contains("requests per operation") {
            assert_eq!(goal["met"], true, "{goal}");
        }
    }
}

/// The plugin executable this build just made: the bench's
/// `kloset-oci-plakar-bench` target (bench/Cargo.toml), the plugin's own
/// source, which the bench packs as `kloset-oci-plakar`.
fn plugin_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kloset-oci-plakar-bench"))
}

/// The fs plugin (bench/fs-plugin), as scripts/setup builds it.
fn fs_plugin_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/plakar-fs-plugin");
    assert!(
        bin.is_file(),
        "{} is missing: scripts/setup-go-tools builds it",
        bin.display()
    );
    bin
}

/// The plakar part in its short mode, on loopback: our plugin (packed from
/// this build), plakar's fs store as a plugin and plakar's built-in fs
/// store run every workload at both of plakar's default `-concurrency`
/// values (1 and 8), and every restore is checked byte for byte.
/// integration-oci is not given, so it must be reported as not run and the
/// goals against it left unjudged. Timings are not judged; request counts
/// and read bytes are only required to be counted, and every goal to have a
/// verdict or a reason.
#[test]
fn the_short_plakar_part_runs_and_restores_exactly() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("plakar.json");
    let output = Command::new(env!("CARGO_BIN_EXE_kloset-bench"))
        .args(["--short", "--only", "plakar", "--links", "loopback"])
        .arg("--plakar-plugin")
        .arg(plugin_binary())
        .arg("--fs-plugin")
        .arg(fs_plugin_binary())
        .arg("--json")
        .arg(&json)
        .env_remove("KLOSET_BENCH_INTEGRATION_OCI")
        .env_remove("KLOSET_BENCH_FS_PLUGIN")
        .output()
        .expect("kloset-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kloset-bench --only plakar failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| link | -c | workload |"),
        "no table:\n{stdout}"
    );
    assert!(
        stdout.contains("integration-oci: not run (no integration-oci binary given)"),
        "integration-oci's absence is not reported:\n{stdout}"
    );

    let report: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report was written"))
            .expect("the report is JSON");
    assert_eq!(report["mode"], "short");
    assert_eq!(report["concurrencies"], serde_json::json!([1, 8]));
    assert_eq!(
        report["links"],
        serde_json::json!([{"link": "loopback", "shape": null, "dataset": "small"}])
    );
    let datasets = report["datasets"].as_array().expect("datasets");
    assert_eq!(datasets.len(), 1, "{datasets:#?}");
    assert_eq!(datasets[0]["size"], "small");
    positive(&datasets[0]["shape"]["bytes"], "the dataset's bytes");

    let runs = report["runs"].as_array().expect("runs");
    let order: Vec<(&str, u64)> = runs
        .iter()
        .map(|r| {
            (
                r["contender"].as_str().expect("a contender"),
                r["concurrency"].as_u64().expect("a concurrency"),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("kloset-oci", 1),
            ("fs-plugin", 1),
            ("fs", 1),
            ("kloset-oci", 8),
            ("fs-plugin", 8),
            ("fs", 8)
        ],
        "{runs:#?}"
    );
    for run in runs {
        let who = format!("{} at {}", run["contender"], run["concurrency"]);
        assert_eq!(run["link"], "loopback", "{who}");
        assert_eq!(run["dataset"], "small", "{who}");
        // The full restore and the single-file restore, each compared.
        assert_eq!(run["restores_verified"], 2, "{who}");
        let samples = run["samples"].as_array().expect("samples");
        let workloads: Vec<&str> = samples
            .iter()
            .map(|s| s["workload"].as_str().unwrap())
            .collect();
        assert_eq!(
            workloads,
            [
                "create",
                "backup (first)",
                "backup (after ~5% changed)",
                "ls",
                "restore (full)",
                "restore (one small file)",
                "check",
                "rm + maintenance"
            ],
            "{who}"
        );
        for s in samples {
            let what = format!("{who} {}", s["workload"]);
            positive(&s["seconds"], &what);
            positive(&s["plakar_peak_bytes"], &what);
            match run["contender"].as_str().unwrap() {
                "kloset-oci" => {
                    positive(&s["requests"]["total"], &what);
                    positive(&s["plugin_peak_bytes"], &what);
                    if s["workload"] == "restore (full)" {
                        positive(&s["requests"]["response_bytes"], &what);
                    }
                }
                "fs-plugin" => {
                    assert!(s["requests"].is_null(), "{what}");
                    positive(&s["plugin_peak_bytes"], &what);
                }
                _ => {
                    assert!(s["requests"].is_null(), "{what}");
                    assert!(s["plugin_peak_bytes"].is_null(), "{what}");
                }
            }
        }
        positive(&run["stored_bytes"], &who);
    }
    assert_eq!(report["restores_verified"], 12);
    // A row per link, concurrency, workload and contender; loopback has no
    // link bandwidth to share.
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2 * 8 * 3, "{rows:#?}");
    for row in rows {
        assert!(row["link_fraction"].is_null(), "{row}");
        assert!(row["concurrency"].is_u64(), "{row}");
    }
    // Each workload at each concurrency is compared with plakar's
    // reference plugin path.
    let ratios = report["ratios"].as_array().expect("ratios");
    assert_eq!(ratios.len(), 2 * 8, "{ratios:#?}");
    for r in ratios {
        positive(&r["ours_over_fs_plugin"], "ours / fs-plugin");
        positive(&r["ours_over_fs"], "ours / fs");
    }
    // Every goal has a verdict or says why not; goals against
    // integration-oci are not judged without it; plugin memory is judged
    // at each concurrency.
    let goals = report["goals"].as_array().expect("goals");
    for g in goals {
        let name = g["goal"].as_str().unwrap();
        assert!(g["met"].is_boolean() || g["not_judged"].is_string(), "{g}");
        if name.contains("integration-oci") {
            assert!(g["met"].is_null(), "{g}");
        }
    }
    let memory: Vec<&Value> = goals
        .iter()
        .filter(|g| g["goal"].as_str().unwrap().contains("peak memory"))
        .collect();
    assert_eq!(memory.len(), 2, "{memory:#?}");
    for g in memory {
        positive(&g["value"], "plugin peak");
        assert!(g["met"].is_boolean(), "{g}");
    }
}

/// The scale part at a tiny size (the full curve pushes 100,000 objects):
/// synthetic packfiles pushed in two steps, and at each step every
/// measurement ran without error, the packfile listing saw every synthetic
/// object, and a synthetic object was deleted through the component (its
/// manifest is taken for this key's).
#[test]
fn a_tiny_scale_curve_runs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("scale.json");
    let output = Command::new(env!("CARGO_BIN_EXE_kloset-bench"))
        .args(["--only", "scale", "--links", "loopback"])
        .args(["--scale-counts", "20,60", "--scale-registries", "2.8"])
        .args(["--scale-deletes", "1"])
        .arg("--plakar-plugin")
        .arg(plugin_binary())
        .arg("--json")
        .arg(&json)
        .output()
        .expect("kloset-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kloset-bench --only scale failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| registry | link |"),
        "no table:\n{stdout}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report was written"))
            .expect("the report is JSON");
    let points = report["points"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{points:#?}");
    for (point, synthetic) in points.iter().zip([20.0, 60.0]) {
        assert_eq!(number(&point["synthetic"], "synthetic"), synthetic);
        for measured in ["ls", "backup", "delete", "packfile_list", "lock_list"] {
            assert!(point[measured]["error"].is_null(), "{measured}: {point:#?}");
            positive(&point[measured]["seconds"], measured);
        }
        // The synthetic ones, less the one deleted before, and the real ones.
        assert!(
            number(&point["packfiles_listed"], "packfiles listed") >= synthetic,
            "{point:#?}"
        );
    }
}
