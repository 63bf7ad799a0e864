//! The bench in its short mode, as CI runs it: against a real registry it
//! starts itself, it must finish and write a complete, well-formed report.
//! Timings are not judged here (a loaded CI machine says nothing about them);
//! request counts are, since they do not depend on load.

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
