//! The goals judged on the report's rows and ratios: pure
//! functions from measurements to verdicts, with no I/O and no rendering
//! (`render.rs` writes them out), so each rule is unit-tested on its own.

use super::{Goal, Ratio, Row};
use crate::plakar::{Contender, LinkKind, BACKUP, BACKUP_AGAIN, RESTORE, RESTORE_ONE, WORKLOADS};

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

fn bound_mark(bound: bool) -> &'static str {
    if bound {
        " (integration-oci cut off: at least)"
    } else {
        ""
    }
}

/// Every goal, link by link.
pub(super) fn judge(rows: &[Row], ratios: &[Ratio], links: &[LinkKind]) -> Vec<Goal> {
    let mut goals = Vec::new();
    let ratio = |link: LinkKind, workload: &str| {
        ratios
            .iter()
            .find(|r| r.link == link && r.workload == workload)
    };
    let cut = |link: LinkKind, workload: &str| {
        ratio(link, workload).is_some_and(|r| r.integration_oci_cut_off)
    };
    for &link in links {
        for workload in WORKLOADS {
            let value = ratio(link, workload).and_then(|r| r.ours_over_integration_oci);
            let bound = cut(link, workload);
            goals.push(Goal {
                goal: format!(
                    "{} {workload}: ours / integration-oci (speed){}",
                    link.name(),
                    bound_mark(bound)
                ),
                value,
                target: ">= 1.0".into(),
                met: at_least(value, bound, 1.0),
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
            goals.push(Goal {
                goal: format!(
                    "{} {workload}: requests, ours / integration-oci ({} / {})",
                    link.name(),
                    ours.map_or("-".into(), |n| n.to_string()),
                    theirs.map_or("-".into(), |n| n.to_string())
                ),
                value,
                target: "< 1.0 (fewer)".into(),
                met: fewer(value, cut(link, workload)),
            });
        }
        if link == LinkKind::Loopback {
            for workload in [BACKUP, BACKUP_AGAIN, RESTORE] {
                let value = ratio(link, workload).and_then(|r| r.ours_over_fs);
                goals.push(Goal {
                    goal: format!("loopback {workload}: ours / fs (throughput)"),
                    value,
                    target: ">= 0.8".into(),
                    met: at_least(value, false, 0.8),
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
                        bound_mark(bound)
                    ),
                    value,
                    target: ">= 1.5".into(),
                    met: at_least(value, bound, 1.5),
                });
            }
        }
    }
    goals
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
}
