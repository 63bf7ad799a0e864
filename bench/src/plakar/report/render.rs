//! The plakar report as Markdown: the per-workload table, what was stored
//! and the goals with their verdicts. Judging is `goals.rs`'s; this only
//! writes.

use super::{PlakarReport, Row, MIB};
use crate::plakar::{Contender, LinkKind};

fn secs(row: Option<&Row>) -> String {
    match row {
        Some(r) if r.lower_bound => format!("> {:.0} (cut off)", r.seconds_median),
        Some(r) if r.runs > 1 => format!(
            "{:.2} ({:.2}–{:.2})",
            r.seconds_median, r.seconds_min, r.seconds_max
        ),
        Some(r) => format!("{:.2}", r.seconds_median),
        None => "not run".into(),
    }
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// The report as Markdown.
pub fn table(report: &PlakarReport) -> String {
    let mut out = String::new();
    let d = &report.dataset;
    out.push_str(&format!(
        "plakar part ({} mode, {} repeat(s)): dataset {} files, {:.1} MiB (seed {}; {} small, {} x {:.0} MiB random, {} x {:.0} KiB text); second backup after {:.1} MiB changed ({:.1}%)\n\n",
        report.mode,
        report.repeats,
        d.files,
        d.bytes as f64 / MIB,
        d.seed,
        d.small_files,
        d.large_files,
        d.large_bytes as f64 / MIB,
        d.text_files,
        d.text_bytes as f64 / 1024.0,
        d.changed_bytes as f64 / MIB,
        100.0 * d.changed_bytes as f64 / d.bytes as f64,
    ));
    for (name, note) in &report.not_run {
        out.push_str(&format!("- {name}: {note}\n"));
    }
    out.push_str(&format!(
        "- wan: Toxiproxy, {} ms round trip, {} Mbit/s each way; the fs stores run on loopback only\n",
        report.wan.rtt_ms, report.wan.mbit_per_s
    ));
    if report
        .runs
        .iter()
        .any(|r| r.contender == Contender::FsPlugin)
    {
        out.push_str("- fs-plugin: plakar's own fs store behind plakar's own plugin SDK (bench/fs-plugin), on the same disk as fs: plakar's reference plugin path\n");
    }
    out.push_str(&format!(
        "- seconds: median (min–max) of the runs; ratios compare speeds (the other's time / ours: above 1, ours is faster); load average {:.1} to {:.1}; {} restores verified byte for byte\n\n",
        report.load_min, report.load_max, report.restores_verified
    ));
    out.push_str("| link | workload | kloset-oci s | integration-oci s | fs-plugin s | fs s | ours / ioci | ours / fs-plugin | ours / fs | MiB/s (ours · ioci · fs-plugin · fs) | requests (ours · ioci) | requests x RTT s (ours · ioci) | plugin peak MiB (ours · ioci · fs-plugin) |\n");
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for ratio in &report.ratios {
        let row = |c: Contender| {
            report
                .rows
                .iter()
                .find(|r| r.link == ratio.link && r.workload == ratio.workload && r.contender == c)
        };
        let (ours, ioci, fs_plugin, fs) = (
            row(Contender::Ours),
            row(Contender::IntegrationOci),
            row(Contender::FsPlugin),
            row(Contender::Fs),
        );
        let local_cell = |row: Option<&Row>| {
            if ratio.link == LinkKind::Wan {
                "–".to_string()
            } else {
                secs(row)
            }
        };
        let speeds = [ours, ioci, fs_plugin, fs]
            .iter()
            .map(|r| {
                r.map_or("–".into(), |r| match (r.mib_per_s, r.lower_bound) {
                    (Some(v), true) => format!("< {v:.1}"),
                    (Some(v), false) => format!("{v:.1}"),
                    (None, _) => "–".into(),
                })
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let requests = [ours, ioci]
            .iter()
            .map(|r| {
                r.map_or("–".into(), |r| match (r.requests, r.lower_bound) {
                    (Some(n), true) => format!("> {n}"),
                    (Some(n), false) => n.to_string(),
                    (None, _) => "–".into(),
                })
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let serial = [ours, ioci]
            .iter()
            .map(|r| {
                r.and_then(|r| r.serial_rtt_seconds)
                    .map_or("–".into(), |v| format!("{v:.1}"))
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let peaks = [ours, ioci, fs_plugin]
            .iter()
            .map(|r| {
                r.and_then(|r| r.plugin_peak_bytes)
                    .map_or("–".into(), |b| format!("{:.0}", b as f64 / MIB))
            })
            .collect::<Vec<_>>()
            .join(" · ");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            ratio.link.name(),
            ratio.workload,
            secs(ours),
            secs(ioci),
            local_cell(fs_plugin),
            local_cell(fs),
            match (
                ratio.ours_over_integration_oci,
                ratio.integration_oci_cut_off
            ) {
                (Some(v), true) => format!("> {v:.2}"),
                (v, _) => opt(v, 2),
            },
            opt(ratio.ours_over_fs_plugin, 2),
            opt(ratio.ours_over_fs, 2),
            speeds,
            requests,
            serial,
            peaks,
        ));
    }
    out.push('\n');
    for s in &report.stored {
        out.push_str(&format!(
            "- stored after the second backup, {} {}: {:.1} MiB\n",
            s.link.name(),
            s.contender.name(),
            s.bytes as f64 / MIB
        ));
    }
    out.push_str("\n| goal | value | target | met |\n| --- | ---: | --- | --- |\n");
    for g in &report.goals {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            g.goal,
            opt(g.value, 2),
            g.target,
            match g.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None if g.value.is_some() => "not judged (the cut-off bound does not settle it)",
                None => "not judged (integration-oci not run)",
            }
        ));
    }
    out
}
