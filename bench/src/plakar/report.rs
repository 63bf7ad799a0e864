//! The plakar part's report: per link, workload and contender the median
//! wall time over the repeats with its spread, throughput, registry
//! requests, bytes stored and peak memory; the ratios ours / integration-oci,
//! ours / fs-plugin and ours / fs (speed: the other's time over ours, so
//! above 1 is ours faster); the goals judged on them. Markdown and
//! JSON.

use serde::Serialize;

use super::dataset::Shape;
use super::requests::Requests;
use super::{
    Contender, LinkKind, RunRecord, Sample, BACKUP, BACKUP_AGAIN, RESTORE, RESTORE_ONE, WORKLOADS,
};

const MIB: f64 = (1 << 20) as f64;

#[derive(Debug, Serialize)]
pub struct PlakarReport {
    pub mode: String,
    pub repeats: usize,
    pub links: Vec<LinkKind>,
    pub wan: super::toxiproxy::Shape,
    pub dataset: Shape,
    /// Why a contender did not run, or where one failed, by name.
    pub not_run: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub ratios: Vec<Ratio>,
    pub stored: Vec<Stored>,
    pub goals: Vec<Goal>,
    /// 1-minute load averages seen at the start and end of runs.
    pub load_min: f64,
    pub load_max: f64,
    pub restores_verified: usize,
    pub runs: Vec<RunRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub link: LinkKind,
    pub workload: String,
    pub contender: Contender,
    pub runs: usize,
    pub seconds_median: f64,
    pub seconds_min: f64,
    pub seconds_max: f64,
    /// Bytes covered / median time, where the workload covers the dataset.
    pub mib_per_s: Option<f64>,
    /// Median over the runs.
    pub requests: Option<u64>,
    /// Of the run with the median request count.
    pub requests_by_method: Option<Requests>,
    pub plakar_peak_bytes: u64,
    pub plugin_peak_bytes: Option<u64>,
    /// The median run was stopped at the peer cut-off: the median time
    /// and request count are lower bounds (at least that long, that many).
    pub lower_bound: bool,
    /// Over the shaped link: the median request count times the round
    /// trip, the time those requests take one after the other. A wall time
    /// near it says they were sent one at a time.
    pub serial_rtt_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub link: LinkKind,
    pub workload: String,
    /// integration-oci's median time / ours.
    pub ours_over_integration_oci: Option<f64>,
    /// integration-oci's median was cut off: the ratio is a lower bound.
    pub integration_oci_cut_off: bool,
    /// fs's median time / ours.
    pub ours_over_fs: Option<f64>,
    /// The fs plugin's median time / ours: against plakar's reference
    /// plugin path on the local disk.
    pub ours_over_fs_plugin: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    pub link: LinkKind,
    pub contender: Contender,
    /// Median bytes held after the second backup.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub goal: String,
    pub value: Option<f64>,
    pub target: String,
    /// `None`: not judged (a contender did not run).
    pub met: Option<bool>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn samples<'a>(
    runs: &'a [RunRecord],
    link: LinkKind,
    contender: Contender,
    workload: &'a str,
) -> impl Iterator<Item = &'a Sample> + 'a {
    runs.iter()
        .filter(move |r| r.link == link && r.contender == contender)
        .flat_map(|r| r.samples.iter())
        .filter(move |s| s.workload == workload)
}

pub fn build(
    short: bool,
    repeats: usize,
    links: &[LinkKind],
    dataset: Shape,
    notes: Vec<(String, String)>,
    runs: Vec<RunRecord>,
) -> PlakarReport {
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut stored = Vec::new();
    for &link in links {
        for contender in Contender::ALL {
            let mut bytes: Vec<f64> = runs
                .iter()
                .filter(|r| r.link == link && r.contender == contender)
                .map(|r| r.stored_bytes as f64)
                .collect();
            if !bytes.is_empty() {
                stored.push(Stored {
                    link,
                    contender,
                    bytes: median(&mut bytes) as u64,
                });
            }
        }
        for workload in WORKLOADS {
            for contender in Contender::ALL {
                let all: Vec<&Sample> = samples(&runs, link, contender, workload).collect();
                if all.is_empty() {
                    continue;
                }
                let mut secs: Vec<f64> = all.iter().map(|s| s.seconds).collect();
                let seconds_median = median(&mut secs);
                // Cut-off runs are the slowest: the median is a bound as
                // soon as one of the middle runs (two, for an even count)
                // is one of them.
                let cut = all.iter().filter(|s| s.cut_off).count();
                let lower_bound = cut > 0 && secs.len() - cut <= secs.len() / 2;
                let mut counted: Vec<&Requests> =
                    all.iter().filter_map(|s| s.requests.as_ref()).collect();
                counted.sort_by_key(|r| r.total);
                let middle = counted.get(counted.len().saturating_sub(1) / 2).copied();
                rows.push(Row {
                    link,
                    workload: workload.to_string(),
                    contender,
                    runs: all.len(),
                    seconds_median,
                    seconds_min: secs.first().copied().unwrap_or(f64::NAN),
                    seconds_max: secs.last().copied().unwrap_or(f64::NAN),
                    mib_per_s: all[0].bytes.map(|b| b as f64 / MIB / seconds_median),
                    requests: middle.map(|r| r.total),
                    requests_by_method: middle.cloned(),
                    plakar_peak_bytes: all.iter().map(|s| s.plakar_peak_bytes).max().unwrap_or(0),
                    plugin_peak_bytes: all.iter().filter_map(|s| s.plugin_peak_bytes).max(),
                    lower_bound,
                    serial_rtt_seconds: match link {
                        LinkKind::Wan => middle
                            .map(|r| r.total as f64 * super::toxiproxy::WAN.rtt_ms as f64 / 1000.0),
                        LinkKind::Loopback => None,
                    },
                });
            }
            let time = |c: Contender| {
                rows.iter()
                    .find(|r| r.link == link && r.workload == workload && r.contender == c)
                    .map(|r| r.seconds_median)
            };
            if let Some(ours) = time(Contender::Ours) {
                let ioci_cut = rows.iter().any(|r| {
                    r.link == link
                        && r.workload == workload
                        && r.contender == Contender::IntegrationOci
                        && r.lower_bound
                });
                ratios.push(Ratio {
                    link,
                    workload: workload.to_string(),
                    ours_over_integration_oci: time(Contender::IntegrationOci).map(|t| t / ours),
                    integration_oci_cut_off: ioci_cut,
                    ours_over_fs: time(Contender::Fs).map(|t| t / ours),
                    ours_over_fs_plugin: time(Contender::FsPlugin).map(|t| t / ours),
                });
            }
        }
    }
    let goals = goals(&rows, &ratios, links);
    let loads = runs.iter().flat_map(|r| [r.load_before, r.load_after]);
    let load_min = loads.clone().fold(f64::INFINITY, f64::min);
    let load_max = loads.fold(f64::NEG_INFINITY, f64::max);
    PlakarReport {
        mode: if short { "short" } else { "full" }.into(),
        repeats,
        links: links.to_vec(),
        wan: super::toxiproxy::WAN,
        dataset,
        not_run: notes,
        restores_verified: runs.iter().map(|r| r.restores_verified).sum(),
        rows,
        ratios,
        stored,
        goals,
        load_min,
        load_max,
        runs,
    }
}

/// The goals.
fn goals(rows: &[Row], ratios: &[Ratio], links: &[LinkKind]) -> Vec<Goal> {
    let mut goals = Vec::new();
    let ratio = |link: LinkKind, workload: &str| {
        ratios
            .iter()
            .find(|r| r.link == link && r.workload == workload)
    };
    let judge = |value: Option<f64>, ok: fn(f64) -> bool| value.map(ok);
    // A ratio against a cut-off time is a lower bound: one at or above
    // the target meets it; one below says nothing.
    let judge_bound = |value: Option<f64>, bound: bool, target: f64| match value {
        Some(v) if bound && v < target => None,
        Some(v) => Some(v >= target),
        None => None,
    };
    let cut = |link: LinkKind, workload: &str| {
        ratio(link, workload).is_some_and(|r| r.integration_oci_cut_off)
    };
    let mark = |bound: bool| {
        if bound {
            " (integration-oci cut off: at least)"
        } else {
            ""
        }
    };
    for &link in links {
        for workload in WORKLOADS {
            let value = ratio(link, workload).and_then(|r| r.ours_over_integration_oci);
            let bound = cut(link, workload);
            goals.push(Goal {
                goal: format!(
                    "{} {workload}: ours / integration-oci (speed){}",
                    link.name(),
                    mark(bound)
                ),
                value,
                target: ">= 1.0".into(),
                met: judge_bound(value, bound, 1.0),
            });
        }
        for workload in [BACKUP, BACKUP_AGAIN, RESTORE, RESTORE_ONE] {
            let requests = |c: Contender| {
                rows.iter()
                    .find(|r| r.link == link && r.workload == workload && r.contender == c)
                    .and_then(|r| r.requests)
            };
            let (ours, theirs) = (
                requests(Contender::Ours),
                requests(Contender::IntegrationOci),
            );
            let value = ours.zip(theirs).map(|(o, t)| o as f64 / t.max(1) as f64);
            // Against a cut-off count (a lower bound), the ratio is an
            // upper bound: below 1 still means fewer.
            let bound = cut(link, workload);
            goals.push(Goal {
                goal: format!(
                    "{} {workload}: requests, ours / integration-oci ({} / {})",
                    link.name(),
                    ours.map_or("-".into(), |n| n.to_string()),
                    theirs.map_or("-".into(), |n| n.to_string())
                ),
                value,
                target: "< 1.0 (fewer)".into(),
                met: match value {
                    Some(v) if bound && v >= 1.0 => None,
                    other => judge(other, |v| v < 1.0),
                },
            });
        }
        if link == LinkKind::Loopback {
            for workload in [BACKUP, BACKUP_AGAIN, RESTORE] {
                let value = ratio(link, workload).and_then(|r| r.ours_over_fs);
                goals.push(Goal {
                    goal: format!("loopback {workload}: ours / fs (throughput)"),
                    value,
                    target: ">= 0.8".into(),
                    met: judge(value, |v| v >= 0.8),
                });
            }
        }
        if link == LinkKind::Wan {
            for workload in [RESTORE, RESTORE_ONE] {
                let value = ratio(link, workload).and_then(|r| r.ours_over_integration_oci);
                let bound = cut(link, workload);
                goals.push(Goal {
                    goal: format!(
                        "wan {workload}: ours / integration-oci (speed){}",
                        mark(bound)
                    ),
                    value,
                    target: ">= 1.5".into(),
                    met: judge_bound(value, bound, 1.5),
                });
            }
        }
    }
    goals
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plakar::RESTORE;

    fn run(contender: Contender, repeat: usize, seconds: f64, cut_off: bool) -> RunRecord {
        RunRecord {
            link: LinkKind::Wan,
            contender,
            repeat,
            samples: vec![Sample {
                workload: RESTORE,
                seconds,
                bytes: Some(1 << 30),
                requests: Some(Requests {
                    total: 1000,
                    by_method: Default::default(),
                }),
                plakar_peak_bytes: 0,
                plugin_peak_bytes: None,
                cut_off,
            }],
            stored_bytes: 0,
            load_before: 0.0,
            load_after: 0.0,
            restores_verified: 0,
        }
    }

    fn report(ioci: &[(f64, bool)]) -> PlakarReport {
        let mut runs: Vec<RunRecord> = (0..3)
            .map(|n| run(Contender::Ours, n, 60.0, false))
            .collect();
        for (n, (seconds, cut)) in ioci.iter().enumerate() {
            runs.push(run(Contender::IntegrationOci, n, *seconds, *cut));
        }
        build(false, 3, &[LinkKind::Wan], Shape::default(), vec![], runs)
    }

    fn restore_goal(report: &PlakarReport) -> &Goal {
        report
            .goals
            .iter()
            .find(|g| {
                g.goal
                    .starts_with("wan restore (full): ours / integration-oci (speed)")
                    && g.target == ">= 1.5"
            })
            .expect("the goal")
    }

    #[test]
    fn a_median_cut_off_is_a_lower_bound_that_can_still_meet_a_goal() {
        // Two of three cut off at 180 s: the median is at least 180 s.
        let report = report(&[(120.0, false), (180.5, true), (180.4, true)]);
        let row = report
            .rows
            .iter()
            .find(|r| r.contender == Contender::IntegrationOci)
            .unwrap();
        assert!(row.lower_bound);
        let ratio = &report.ratios[0];
        assert!(ratio.integration_oci_cut_off);
        assert_eq!(ratio.ours_over_integration_oci, Some(180.4 / 60.0));
        let goal = restore_goal(&report);
        assert_eq!(goal.met, Some(true), "{goal:?}");
        assert!(goal.goal.contains("at least"), "{goal:?}");
        assert!(table(&report).contains("> 180 (cut off)"));
    }

    #[test]
    fn one_cut_off_run_of_three_leaves_the_median_measured() {
        let report = report(&[(120.0, false), (130.0, false), (180.5, true)]);
        let ratio = &report.ratios[0];
        assert!(!ratio.integration_oci_cut_off);
        assert_eq!(ratio.ours_over_integration_oci, Some(130.0 / 60.0));
    }

    #[test]
    fn a_bound_below_the_target_is_not_judged() {
        // Cut off at 70 s against ours' 60: at least 1.17, which says
        // nothing about the 1.5 asked.
        let report = report(&[(70.0, true), (70.0, true), (70.0, true)]);
        let goal = restore_goal(&report);
        assert_eq!(goal.met, None, "{goal:?}");
        assert!(table(&report).contains("not judged (the cut-off bound does not settle it)"));
    }

    #[test]
    fn with_two_runs_one_cut_off_the_median_is_a_bound() {
        let runs = vec![
            run(Contender::Ours, 0, 60.0, false),
            run(Contender::IntegrationOci, 0, 100.0, false),
            run(Contender::IntegrationOci, 1, 180.0, true),
        ];
        let report = build(false, 2, &[LinkKind::Wan], Shape::default(), vec![], runs);
        assert!(report.ratios[0].integration_oci_cut_off);
    }
}
