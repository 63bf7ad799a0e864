//! The report: a table a person reads at a glance (check, result, time,
//! what was found), the exchanges of every failed check below it, and
//! the same as JSON for machines.

use std::fmt::Write;
use std::time::Instant;

use serde::Serialize;

use crate::checks::{CheckReport, Options, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: String,
    pub plugin: String,
    pub proto: String,
    pub location: String,
    /// The options' names (their values may be secrets).
    pub options: Vec<String>,
    pub large_bytes: u64,
    /// Why no check could run (the plugin did not start).
    pub start_error: Option<String>,
    pub checks: Vec<CheckReport>,
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
    pub warned: usize,
    /// Checks asked for that could not run (no plugin could be started
    /// for them, or Init or Create failed): each fails the contract.
    /// Checks left out by --only and --skip are not in the report.
    pub skipped: usize,
    /// The plugin started, no check failed and none was skipped.
    pub holds: bool,
    pub seconds: f64,
    /// The highest resident memory of the plugin seen (bytes).
    pub plugin_peak_rss: Option<u64>,
}

impl Report {
    pub fn new(opts: &Options) -> Report {
        let mut plugin = opts.plugin.program.display().to_string();
        for arg in &opts.plugin.args {
            plugin.push(' ');
            plugin.push_str(arg);
        }
        Report {
            tool: format!("plakar-store-exerciser {}", env!("CARGO_PKG_VERSION")),
            plugin,
            proto: opts.proto.clone(),
            location: crate::redact(
                opts.config
                    .get("location")
                    .map(String::as_str)
                    .unwrap_or_default(),
            ),
            options: opts
                .config
                .keys()
                .filter(|k| *k != "location")
                .cloned()
                .collect(),
            large_bytes: opts.large,
            start_error: None,
            checks: Vec::new(),
            passed: 0,
            failed: 0,
            unsupported: 0,
            warned: 0,
            skipped: 0,
            holds: false,
            seconds: 0.0,
            plugin_peak_rss: None,
        }
    }

    pub fn finish(&mut self, started: Instant) {
        let count = |v| self.checks.iter().filter(|c| c.result == v).count();
        self.passed = count(Verdict::Pass);
        self.failed = count(Verdict::Fail);
        self.unsupported = count(Verdict::Unsupported);
        self.warned = count(Verdict::Warn);
        self.skipped = count(Verdict::Skipped);
        // Checks are only in the report when asked for (--only and
        // --skip leave the others out): one skipped here had no plugin
        // to run on, and the contract was not shown to hold there.
        self.holds = self.start_error.is_none() && self.failed == 0 && self.skipped == 0;
        self.seconds = started.elapsed().as_secs_f64();
    }

    pub fn check(&self, name: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The names of the checks that failed.
    pub fn failures(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.result == Verdict::Fail)
            .map(|c| c.name)
            .collect()
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// The table, then each failure with its exchanges.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let options = if self.options.is_empty() {
            String::new()
        } else {
            format!(", options {}", self.options.join(", "))
        };
        let _ = writeln!(
            out,
            "{}: {} at {} (protocol {}{options})",
            self.tool, self.plugin, self.location, self.proto
        );
        if let Some(e) = &self.start_error {
            let _ = writeln!(out, "the plugin could not be started: {e}");
            return out;
        }
        let _ = writeln!(out);
        let width = self
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            out,
            "{:width$}  {:11}  {:>7}  detail",
            "check", "result", "time"
        );
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{:width$}  {:11}  {:>7}  {}",
                c.name,
                verdict(c.result),
                duration(c.ms),
                shorten(&c.detail, 110)
            );
        }
        let rss = self
            .plugin_peak_rss
            .map(|b| format!("; plugin peak RSS {}", crate::checks::mib(b)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} checks: {} pass, {} fail, {} unsupported, {} warn, {} skipped, in {:.1} s{rss}",
            self.checks.len(),
            self.passed,
            self.failed,
            self.unsupported,
            self.warned,
            self.skipped,
            self.seconds
        );
        if self.holds {
            let _ = writeln!(out, "the contract holds");
        } else {
            let mut why = self.failures().join(", ");
            let skipped: Vec<&str> = self
                .checks
                .iter()
                .filter(|c| c.result == Verdict::Skipped)
                .map(|c| c.name)
                .collect();
            if !skipped.is_empty() {
                if !why.is_empty() {
                    why.push_str("; ");
                }
                why.push_str(&format!(
                    "not run, no plugin to run on: {}",
                    skipped.join(", ")
                ));
            }
            let _ = writeln!(out, "the contract does not hold: {why}");
        }
        for c in self
            .checks
            .iter()
            .filter(|c| matches!(c.result, Verdict::Fail | Verdict::Warn))
        {
            let _ = writeln!(out, "\n{} {}: {}", verdict(c.result), c.name, c.what);
            let _ = writeln!(out, "  {}", c.detail);
            if c.exchanges_total > c.exchanges.len() {
                let _ = writeln!(
                    out,
                    "  (the last {} of {} exchanges)",
                    c.exchanges.len(),
                    c.exchanges_total
                );
            }
            for e in &c.exchanges {
                let _ = writeln!(out, "  sent: {}", e.call);
                let _ = writeln!(out, "   got: {}  ({})", e.answer, duration(e.ms));
            }
        }
        out
    }
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::Unsupported => "unsupported",
        Verdict::Warn => "warn",
        Verdict::Skipped => "skipped",
    }
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 100_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms / 1000)
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
