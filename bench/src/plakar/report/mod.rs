//! The plakar part's report: per link, workload and contender the median
//! wall time over the repeats with its spread, throughput, registry
//! requests, bytes stored and peak memory; the ratios ours / integration-oci,
//! ours / fs-plugin and ours / fs (speed: the other's time over ours, so
//! above 1 is ours faster). This module gathers the runs into those
//! figures (JSON is their serde form); `goals.rs` judges the goals
//! on them and `render.rs` writes the Markdown table.

mod goals;
mod render;

pub use self::render::table;

use serde::Serialize;

use super::dataset::Shape;
use super::requests::Requests;
use super::{Contender, LinkKind, RunRecord, Sample, WORKLOADS};

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
    let goals = goals::judge(&rows, &ratios, links);
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
