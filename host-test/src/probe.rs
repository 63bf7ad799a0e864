//! `kloset-host probe`: the core's registry probe (`kloset_oci::probe`),
//! run natively over the host's egress, with a store's options and
//! credentials (options, `OCI_REGISTRY_*`, Docker logins), TLS roots,
//! allow-list and timeouts. No component is loaded: the probe drives the
//! same protocol code the component is built from.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kloset_oci::config::StoreConfig;
pub use kloset_oci::probe::{Advice, Finding, ProbeReport};

use crate::configure::prepare::prepare;
use crate::egress::client::EgressClient;
use crate::egress::native_transport::NativeTransport;
use crate::error::Error;

/// Probes the registry a store configuration (`location` and options)
/// names, in a scratch repository beside its location.
pub fn probe(config: &[(String, String)]) -> Result<ProbeReport, Error> {
    let mut prepared = prepare(config, Arc::default())?;
    let env = |name: &str| std::env::var(name).ok();
    // The options are checked before any credential helper runs.
    let mut settings = StoreConfig::parse_with_env(&prepared.guest, &env)?;
    if prepared.add_docker_login()? {
        settings = StoreConfig::parse_with_env(&prepared.guest, &env)?;
    }
    let egress = EgressClient::new(prepared.egress);
    let (connect, first_byte, between_bytes) = settings.timeouts();
    let transport =
        || NativeTransport::with_timeouts(egress.clone(), connect, first_byte, between_bytes);
    Ok(kloset_oci::probe::probe(&settings, transport, nonce()))
}

/// A value unlikely to repeat between two probes: the scratch prefix's.
fn nonce() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    now ^ (u64::from(std::process::id()) << 32)
}

/// The report as a person reads it: a table of findings, the options to
/// set (or that the defaults fit), what was left behind.
pub fn render(report: &ProbeReport) -> String {
    let mut out = String::new();
    if !report.scratch.is_empty() {
        out.push_str(&format!("probed in {}\n\n", report.scratch));
    }
    let width = report
        .findings
        .iter()
        .map(|f| f.feature.len())
        .max()
        .unwrap_or(0);
    for finding in &report.findings {
        out.push_str(&format!(
            "{:width$}  {}\n",
            finding.feature,
            finding.found,
            width = width
        ));
    }
    if let Some(stopped) = &report.stopped {
        out.push_str(&format!("\nstopped: {stopped}\n"));
        for left in &report.left_behind {
            out.push_str(&format!("left behind: {left}\n"));
        }
        return out;
    }
    out.push('\n');
    if report.advice.is_empty() {
        out.push_str("options: the defaults fit this registry\n");
    } else {
        out.push_str("options:\n");
        for advice in &report.advice {
            out.push_str(&format!(
                "  {}={}  ({})\n",
                advice.option, advice.value, advice.why
            ));
        }
    }
    if report.left_behind.is_empty() {
        out.push_str(
            "cleaned up: every tag the probe wrote is gone (an empty scratch repository \
             stays until the registry's own tools remove it)\n",
        );
    } else {
        out.push_str("left behind:\n");
        for left in &report.left_behind {
            out.push_str(&format!("  {left}\n"));
        }
    }
    out
}
