//! The issues' goals judged on the report's rows and ratios: pure
//! functions from measurements to verdicts, with no I/O and no rendering
//! (`render.rs` writes them out), so each rule is unit-tested on its own.
//!
//! Goals are judged for each link and plakar `-concurrency`, on ratios
//! measured in the same run (against integration-oci, the fs stores, or
//! the link's own bandwidth), never against remembered figures.

use super::{Goal, LinkReport, Ratio, Row};
use crate::plakar::{
    Contender, LinkKind, BACKUP, BACKUP_AGAIN, CHECK, RESTORE, RESTORE_ONE, WORKLOADS,
};

const MIB: f64 = (1 << 20) as f64;

/// The concurrency the link-use goal is judged at (issue 23: about what a
/// user with 8 or 9 cores gets by default); others are reported.
pub(super) const LINK_GOAL_CONCURRENCY: u32 = 8;
/// The share of a shaped link's bandwidth a full restore and `check` must
/// use there.
pub(super) const LINK_FRACTION: f64 = 0.8;
/// Our plugin's peak resident memory, at any concurrency, by default.
pub(super) const PLUGIN_PEAK_MIB: f64 = 128.0;

/// A speed ratio (the other's time / ours) judged against `target`.
/// `lower_bound`: the other's time was cut off, so the ratio is at least
/// `value`: at or above the target that settles it; below, it says
/// nothing (`None`, not judged).
pub(super) fn at_least(value: Option<f64>, lower_bound: bool, target: f64) -> Option<bool> {
    match value {
        Some(v) if lower_bound && v < target => None,
        Some(v) => Some(v >= target),
        None => None,
    }
}

/// A request ratio (ours / theirs) judged as "fewer". `upper_bound`: their
/// count was cut off (a lower bound), so the ratio is at most `value`:
/// below 1 still means fewer; at or above, it says nothing.
pub(super) fn fewer(value: Option<f64>, upper_bound: bool) -> Option<bool> {
    match value {
        Some(v) if upper_bound && v >= 1.0 => None,
        Some(v) => Some(v < 1.0),
        None => None,
    }
}

/// A peak judged against a ceiling.
pub(super) fn at_most(value: Option<f64>, ceiling: f64) -> Option<bool> {
    value.map(|v| v <= ceiling)
}

/// The speed ours must reach against integration-oci (issue 23, goal 3:
/// the first backup on loopback at 1.05 or more; issue 12: every workload
/// at 1.0 or more elsewhere).
pub(super) fn speed_target(link: LinkKind, workload: &str) -> f64 {
    match (link, workload) {
        (LinkKind::Loopback, BACKUP) => 1.05,
        _ => 1.0,
    }
}

fn bound_mark(bound: bool) -> &'static str {
    if bound {
        " (integration-oci cut off: at least)"
    } else {
        ""
    }
}

/// Why a goal with no verdict was not judged.
fn why_not(value: Option<f64>, missing: &str) -> String {
    match value {
        Some(_) => "the cut-off bound does not settle it".into(),
        None => format!("{missing} not run"),
    }
}

struct Judged<'a> {
    rows: &'a [Row],
    ratios: &'a [Ratio],
}

impl Judged<'_> {
    fn ratio(&self, link: LinkKind, concurrency: u32, workload: &str) -> Option<&Ratio> {
        self.ratios
            .iter()
            .find(|r| r.link == link && r.concurrency == concurrency && r.workload == workload)
    }

    fn row(
        &self,
        link: LinkKind,
        concurrency: u32,
        workload: &str,
        contender: Contender,
    ) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.link == link
                && r.concurrency == concurrency
                && r.workload == workload
                && r.contender == contender
        })
    }
}

/// Every goal: per link and concurrency, then plugin memory per
/// concurrency.
pub(super) fn judge(
    rows: &[Row],
    ratios: &[Ratio],
    links: &[LinkReport],
    concurrencies: &[u32],
) -> Vec<Goal> {
    let judged = Judged { rows, ratios };
    let mut goals = Vec::new();
    for link in links.iter().map(|l| l.link) {
        for &concurrency in concurrencies {
            let goal = |goal: String, value: Option<f64>, target: String, met: Option<bool>| {
                let not_judged = met.is_none().then(|| why_not(value, "integration-oci"));
                Goal {
                    goal,
                    link: Some(link),
                    concurrency: Some(concurrency),
                    value,
                    target,
                    met,
                    not_judged,
                }
            };
            let ratio = |workload: &str| judged.ratio(link, concurrency, workload);
            let cut = |workload: &str| ratio(workload).is_some_and(|r| r.integration_oci_cut_off);
            if let Some(shape) = link.shape() {
                for workload in [RESTORE, CHECK] {
                    goals.push(link_use(
                        judged.row(link, concurrency, workload, Contender::Ours),
                        link,
                        concurrency,
                        workload,
                        shape.mbit_per_s,
                    ));
                }
            }
            for workload in WORKLOADS {
                let value = ratio(workload).and_then(|r| r.ours_over_integration_oci);
                let bound = cut(workload);
                let target = speed_target(link, workload);
                goals.push(goal(
                    format!(
                        "{workload}: ours / integration-oci (speed){}",
                        bound_mark(bound)
                    ),
                    value,
                    format!(">= {target}"),
                    at_least(value, bound, target),
                ));
            }
            for workload in [BACKUP, BACKUP_AGAIN, RESTORE, RESTORE_ONE] {
                let requests = |c: Contender| {
                    judged
                        .row(link, concurrency, workload, c)
                        .and_then(|r| r.requests)
                };
                let (ours, theirs) = (
                    requests(Contender::Ours),
                    requests(Contender::IntegrationOci),
                );
                let value = ours.zip(theirs).map(|(o, t)| o as f64 / t.max(1) as f64);
                goals.push(goal(
                    format!(
                        "{workload}: requests, ours / integration-oci ({} / {})",
                        ours.map_or("-".into(), |n| n.to_string()),
                        theirs.map_or("-".into(), |n| n.to_string())
                    ),
                    value,
                    "< 1.0 (fewer)".into(),
                    fewer(value, cut(workload)),
                ));
            }
            if link == LinkKind::Loopback {
                for workload in [BACKUP, BACKUP_AGAIN, RESTORE] {
                    let value = ratio(workload).and_then(|r| r.ours_over_fs);
                    let met = at_least(value, false, 0.8);
                    goals.push(Goal {
                        not_judged: met.is_none().then(|| "fs not run".to_string()),
                        ..goal(
                            format!("{workload}: ours / fs (throughput)"),
                            value,
                            ">= 0.8".into(),
                            met,
                        )
                    });
                }
            }
            if link.shape().is_some() {
                for workload in [RESTORE, RESTORE_ONE] {
                    let value = ratio(workload).and_then(|r| r.ours_over_integration_oci);
                    let bound = cut(workload);
                    goals.push(goal(
                        format!(
                            "{workload}: ours / integration-oci (speed){}",
                            bound_mark(bound)
                        ),
                        value,
                        ">= 1.5".into(),
                        at_least(value, bound, 1.5),
                    ));
                }
            }
        }
    }
    for &concurrency in concurrencies {
        goals.push(plugin_memory(rows, concurrency));
    }
    goals
}

/// Issue 23, goal 2: a full restore or `check` over a shaped link uses at
/// least 0.8 of its bandwidth at concurrency 8; at other concurrencies the
/// share is reported, not judged.
pub(super) fn link_use(
    ours: Option<&Row>,
    link: LinkKind,
    concurrency: u32,
    workload: &str,
    mbit_per_s: u64,
) -> Goal {
    let value = ours.and_then(|r| r.link_fraction);
    let judged_here = concurrency == LINK_GOAL_CONCURRENCY;
    let met = value
        .filter(|_| judged_here)
        .and_then(|v| at_least(Some(v), false, LINK_FRACTION));
    let not_judged = match (met, value) {
        (Some(_), _) => None,
        (None, Some(_)) => Some(format!(
            "reported; judged at -concurrency {LINK_GOAL_CONCURRENCY} only"
        )),
        (None, None) => Some("not measured (ours did not run here)".into()),
    };
    Goal {
        goal: format!("{workload}: share of the link's {mbit_per_s} Mbit/s (bytes read / time)"),
        link: Some(link),
        concurrency: Some(concurrency),
        value,
        target: format!(">= {LINK_FRACTION} at -concurrency {LINK_GOAL_CONCURRENCY}"),
        met,
        not_judged,
    }
}

/// Issue 23, goal 4: our plugin's peak memory at most 128 MiB at a
/// concurrency, over every link and workload, with its default settings.
pub(super) fn plugin_memory(rows: &[Row], concurrency: u32) -> Goal {
    let peak = rows
        .iter()
        .filter(|r| r.contender == Contender::Ours && r.concurrency == concurrency)
        .filter_map(|r| r.plugin_peak_bytes.map(|b| (b, r)))
        .max_by_key(|(b, _)| *b);
    let value = peak.map(|(b, _)| b as f64 / MIB);
    let met = at_most(value, PLUGIN_PEAK_MIB);
    Goal {
        goal: match peak {
            Some((_, r)) => format!(
                "our plugin's peak memory, MiB (highest: {} {})",
                r.link.name(),
                r.workload
            ),
            None => "our plugin's peak memory, MiB".into(),
        },
        link: None,
        concurrency: Some(concurrency),
        value,
        target: format!("<= {PLUGIN_PEAK_MIB}"),
        met,
        not_judged: met.is_none().then(|| "not measured".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_speed_ratio_is_judged_against_its_target() {
        // (case, value, lower bound, target, verdict)
        let cases = [
            ("measured, above", Some(1.2), false, 1.0, Some(true)),
            ("measured, at", Some(1.0), false, 1.0, Some(true)),
            ("measured, below", Some(0.9), false, 1.0, Some(false)),
            ("bound above settles it", Some(1.6), true, 1.5, Some(true)),
            ("bound below says nothing", Some(1.2), true, 1.5, None),
            ("not run", None, false, 1.0, None),
        ];
        for (case, value, bound, target, verdict) in cases {
            assert_eq!(at_least(value, bound, target), verdict, "{case}");
        }
    }

    #[test]
    fn a_request_ratio_is_judged_as_fewer() {
        let cases = [
            ("fewer", Some(0.5), false, Some(true)),
            ("as many", Some(1.0), false, Some(false)),
            ("fewer than a cut-off count", Some(0.2), true, Some(true)),
            (
                "more than a cut-off count says nothing",
                Some(1.3),
                true,
                None,
            ),
            ("not run", None, false, None),
        ];
        for (case, value, bound, verdict) in cases {
            assert_eq!(fewer(value, bound), verdict, "{case}");
        }
    }

    #[test]
    fn the_first_loopback_backup_must_beat_integration_oci_by_5_percent() {
        let cases = [
            (LinkKind::Loopback, BACKUP, 1.05),
            (LinkKind::Loopback, BACKUP_AGAIN, 1.0),
            (LinkKind::Loopback, RESTORE, 1.0),
            (LinkKind::Wan, BACKUP, 1.0),
            (LinkKind::SlowWan, BACKUP, 1.0),
        ];
        for (link, workload, target) in cases {
            assert_eq!(speed_target(link, workload), target, "{link:?} {workload}");
        }
        assert_eq!(
            at_least(Some(1.04), false, speed_target(LinkKind::Loopback, BACKUP)),
            Some(false)
        );
    }

    fn row(concurrency: u32, workload: &str, link_fraction: Option<f64>, peak_mib: u64) -> Row {
        Row {
            link: LinkKind::Wan,
            concurrency,
            workload: workload.into(),
            contender: Contender::Ours,
            runs: 1,
            seconds_median: 10.0,
            seconds_min: 10.0,
            seconds_max: 10.0,
            mib_per_s: None,
            requests: None,
            requests_by_method: None,
            plakar_peak_bytes: 0,
            plugin_peak_bytes: Some(peak_mib << 20),
            lower_bound: false,
            serial_rtt_seconds: None,
            bytes_read: None,
            link_fraction,
            stored_fraction: None,
        }
    }

    #[test]
    fn link_use_is_judged_at_concurrency_8_and_reported_at_others() {
        // (case, concurrency, share, verdict, reason)
        let cases = [
            ("at 8, enough", 8, Some(0.85), Some(true), None),
            ("at 8, at the target", 8, Some(0.8), Some(true), None),
            ("at 8, short of it", 8, Some(0.5), Some(false), None),
            ("at 1, reported", 1, Some(0.3), None, Some("reported")),
            ("not measured", 8, None, None, Some("not measured")),
        ];
        for (case, concurrency, share, verdict, reason) in cases {
            let r = row(concurrency, RESTORE, share, 0);
            let goal = link_use(Some(&r), LinkKind::Wan, concurrency, RESTORE, 200);
            assert_eq!(goal.met, verdict, "{case}");
            assert_eq!(goal.value, share, "{case}");
            match reason {
                Some(why) => assert!(
                    goal.not_judged
                        .as_deref()
                        .is_some_and(|n| n.starts_with(why)),
                    "{case}: {goal:?}"
                ),
                None => assert_eq!(goal.not_judged, None, "{case}"),
            }
        }
        let goal = link_use(None, LinkKind::SlowWan, 8, CHECK, 50);
        assert_eq!(goal.met, None);
        assert!(goal.goal.contains("50 Mbit/s"), "{goal:?}");
    }

    #[test]
    fn plugin_memory_is_the_highest_peak_at_that_concurrency() {
        let rows = [
            row(1, BACKUP, None, 100),
            row(1, RESTORE, None, 120),
            row(8, RESTORE, None, 150),
            Row {
                contender: Contender::IntegrationOci,
                ..row(1, CHECK, None, 500)
            },
        ];
        let at_1 = plugin_memory(&rows, 1);
        assert_eq!(at_1.value, Some(120.0));
        assert_eq!(at_1.met, Some(true));
        assert!(at_1.goal.contains("wan restore (full)"), "{at_1:?}");
        let at_8 = plugin_memory(&rows, 8);
        assert_eq!(at_8.met, Some(false));
        let at_4 = plugin_memory(&rows, 4);
        assert_eq!(
            (at_4.met, at_4.not_judged.as_deref()),
            (None, Some("not measured"))
        );
    }
}
