//! The scale part's table (Markdown): one row per registry, link and
//! size; a cell is seconds (the median of its runs, with their range when
//! there were several) and, for the store's own operations, the registry
//! requests they sent; or the error a measurement ended with.

use super::{Point, ScaleReport, Timed};

fn seconds(timed: &Timed) -> String {
    match (timed.seconds, &timed.error) {
        (Some(s), _) if timed.runs.len() > 1 => {
            let min = timed.runs.iter().copied().fold(f64::INFINITY, f64::min);
            let max = timed.runs.iter().copied().fold(0.0, f64::max);
            let failed = if timed.error.is_some() {
                " (some failed)"
            } else {
                ""
            };
            format!("{s:.2} ({min:.2}–{max:.2}){failed}")
        }
        (Some(s), None) => format!("{s:.2}"),
        (Some(s), Some(_)) => format!("{s:.2} (some failed)"),
        (None, Some(why)) => format!("failed: {}", why.replace('|', "\\|")),
        (None, None) => "–".to_string(),
    }
}

fn with_requests(timed: &Timed) -> String {
    match timed.requests {
        Some(n) if timed.seconds.is_some() => format!("{} · {n}", seconds(timed)),
        _ => seconds(timed),
    }
}

/// A point in one line, for progress.
pub(super) fn line(point: &Point) -> String {
    format!(
        "ls {}; backup {}; delete {}; packfile list {} ({} MACs); lock list {}",
        seconds(&point.ls),
        seconds(&point.backup),
        with_requests(&point.delete),
        with_requests(&point.packfile_list),
        point
            .packfiles_listed
            .map_or("–".to_string(), |n| n.to_string()),
        with_requests(&point.lock_list),
    )
}

pub fn table(report: &ScaleReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Package: {}; {} run(s) of ls, backup and the listings, {} delete(s), per point.\n\n",
        report.package, report.repeats, report.deletes
    ));
    out.push_str(
        "| registry | link | synthetic packfiles | plakar ls s | plakar backup s | \
         delete s · requests | packfile list s · requests | lock list s · requests |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for p in &report.points {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            p.registry,
            p.link.name(),
            p.synthetic,
            seconds(&p.ls),
            seconds(&p.backup),
            with_requests(&p.delete),
            with_requests(&p.packfile_list),
            with_requests(&p.lock_list),
        ));
    }
    out.push('\n');
    for push in &report.pushes {
        out.push_str(&format!(
            "- pushed synthetic packfiles {} to {} on {}: {:.1} s\n",
            push.from, push.to, push.registry, push.seconds
        ));
    }
    out
}
