//! The plakar report as Markdown: the per-workload table, what was stored
//! and the goals with their verdicts. Judging is `goals.rs`'s; this only
//! writes.

use super::{PlakarReport, Row, MIB};
use crate::plakar::Contender;

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

/// One cell per contender, joined with " · ".
fn cells(rows: &[Option<&Row>], cell: impl Fn(&Row) -> String) -> String {
    rows.iter()
        .map(|r| r.map_or("–".into(), &cell))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The report as Markdown.
pub fn table(report: &PlakarReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "plakar part ({} mode, {} repeat(s)), plakar -concurrency {}\n\n",
        report.mode,
        report.repeats,
        report
            .concurrencies
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    ));
    for dataset in &report.datasets {
        let d = &dataset.shape;
        out.push_str(&format!(
            "- {} dataset: {} files, {:.1} MiB (seed {}; {} small, {} x {:.0} MiB random, {} x {:.0} KiB text); second backup after {:.1} MiB changed ({:.1}%)\n",
            dataset.size.name(),
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
    }
    for link in &report.links {
        out.push_str(&match link.shape {
            Some(shape) => format!(
                "- {}: shaped, {} ms round trip, {} Mbit/s each way shared by every connection; the {} dataset; the fs stores do not run here\n",
                link.link.name(),
                shape.rtt_ms,
                shape.mbit_per_s,
                link.dataset.name()
            ),
            None => format!(
                "- {}: the registry as it is; the {} dataset\n",
                link.link.name(),
                link.dataset.name()
            ),
        });
    }
    for (name, note) in &report.not_run {
        out.push_str(&format!("- {name}: {note}\n"));
    }
    if report
        .runs
        .iter()
        .any(|r| r.contender == Contender::FsPlugin)
    {
        out.push_str("- fs-plugin: plakar's own fs store behind plakar's own plugin SDK (bench/fs-plugin), on the same disk as fs: plakar's reference plugin path\n");
    }
    out.push_str("- link use (full restore and check over a shaped link): response body bytes the registry sent (its access log) / the command's time / the link's bandwidth each way, median of the runs; in brackets the same with the bytes the registry holds after the second backup in place of the bytes read\n");
    out.push_str(&format!(
        "- seconds: median (min–max) of the runs; ratios compare speeds (the other's time / ours: above 1, ours is faster); load average {:.1} to {:.1}; {} restores verified byte for byte\n\n",
        report.load_min, report.load_max, report.restores_verified
    ));
    out.push_str("| link | -c | workload | kloset-oci s | integration-oci s | fs-plugin s | fs s | ours / ioci | ours / fs-plugin | ours / fs | MiB/s (ours · ioci · fs-plugin · fs) | link use (ours · ioci) | requests (ours · ioci) | requests x RTT s (ours · ioci) | plugin peak MiB (ours · ioci · fs-plugin) |\n");
    out.push_str("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for ratio in &report.ratios {
        let row = |c: Contender| {
            report.rows.iter().find(|r| {
                r.link == ratio.link
                    && r.concurrency == ratio.concurrency
                    && r.workload == ratio.workload
                    && r.contender == c
            })
        };
        let (ours, ioci, fs_plugin, fs) = (
            row(Contender::Ours),
            row(Contender::IntegrationOci),
            row(Contender::FsPlugin),
            row(Contender::Fs),
        );
        let shaped = ratio.link.shape().is_some();
        let local_cell = |row: Option<&Row>| {
            if shaped {
                "–".to_string()
            } else {
                secs(row)
            }
        };
        let speeds = cells(&[ours, ioci, fs_plugin, fs], |r| {
            match (r.mib_per_s, r.lower_bound) {
                (Some(v), true) => format!("< {v:.1}"),
                (Some(v), false) => format!("{v:.1}"),
                (None, _) => "–".into(),
            }
        });
        // A command cut off never finished: bytes over its cut-off time
        // are no share of the link.
        let link_use = cells(&[ours, ioci], |r| {
            match (r.link_fraction, r.stored_fraction, r.lower_bound) {
                (_, _, true) => "–".into(),
                (Some(crossed), Some(stored), false) => format!("{crossed:.2} ({stored:.2})"),
                (crossed, _, false) => opt(crossed, 2),
            }
        });
        let requests = cells(&[ours, ioci], |r| match (r.requests, r.lower_bound) {
            (Some(n), true) => format!("> {n}"),
            (Some(n), false) => n.to_string(),
            (None, _) => "–".into(),
        });
        let serial = cells(&[ours, ioci], |r| opt(r.serial_rtt_seconds, 1));
        let peaks = cells(&[ours, ioci, fs_plugin], |r| {
            r.plugin_peak_bytes
                .map_or("–".into(), |b| format!("{:.0}", b as f64 / MIB))
        });
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            ratio.link.name(),
            ratio.concurrency,
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
            link_use,
            requests,
            serial,
            peaks,
        ));
    }
    out.push('\n');
    for s in &report.stored {
        out.push_str(&format!(
            "- stored after the second backup, {} -concurrency {} {}: {:.1} MiB\n",
            s.link.name(),
            s.concurrency,
            s.contender.name(),
            s.bytes as f64 / MIB
        ));
    }
    out.push_str(
        "\n| link | -c | goal | value | target | met |\n| --- | ---: | --- | ---: | --- | --- |\n",
    );
    for g in &report.goals {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            g.link.map_or("all", |l| l.name()),
            g.concurrency.map_or("all".into(), |c| c.to_string()),
            g.goal,
            opt(g.value, 2),
            g.target,
            match (g.met, &g.not_judged) {
                (Some(true), _) => "yes".to_string(),
                (Some(false), _) => "**no**".to_string(),
                (None, Some(why)) => format!("not judged ({why})"),
                (None, None) => "not judged".to_string(),
            }
        ));
    }
    out
}
