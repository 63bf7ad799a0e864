//! Timing samples and what the report derives from them.

use std::time::{Duration, Instant};

use serde::Serialize;

/// What one path did in one workload.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// Latency of each operation.
    pub latencies: Vec<Duration>,
    /// Wall time of the whole run (for concurrent callers: first start to
    /// last end; for one caller: the sum of the operations).
    pub wall: Duration,
    /// Payload bytes moved.
    pub bytes: u64,
    /// HTTP requests sent, from the egress counter.
    pub requests: u64,
}

impl Samples {
    /// Times `op`, adding its latency and wall time.
    pub fn time<T>(&mut self, op: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = op();
        let took = start.elapsed();
        self.latencies.push(took);
        self.wall += took;
        out
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.bytes += other.bytes;
        self.requests += other.requests;
    }

    pub fn summary(&self, guest_peak_memory: Option<usize>) -> Summary {
        let ops = self.latencies.len() as u64;
        let secs = self.wall.as_secs_f64().max(1e-9);
        let mut sorted = self.latencies.clone();
        sorted.sort();
        Summary {
            ops,
            seconds: self.wall.as_secs_f64(),
            ops_per_s: ops as f64 / secs,
            mib_per_s: self.bytes as f64 / (1 << 20) as f64 / secs,
            p50_ms: percentile(&sorted, 0.50),
            p99_ms: percentile(&sorted, 0.99),
            requests_per_op: if ops == 0 {
                0.0
            } else {
                self.requests as f64 / ops as f64
            },
            guest_peak_memory_bytes: guest_peak_memory.map(|b| b as u64),
        }
    }
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// One path's figures for one workload, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub ops: u64,
    pub seconds: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests_per_op: f64,
    /// The component's largest linear memory; `null` for the baseline.
    pub guest_peak_memory_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted[..1], 0.99), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn summary_rates() {
        let samples = Samples {
            latencies: vec![Duration::from_millis(500); 4],
            wall: Duration::from_secs(2),
            bytes: 8 << 20,
            requests: 12,
        };
        let s = samples.summary(None);
        assert_eq!(s.ops, 4);
        assert!((s.ops_per_s - 2.0).abs() < 1e-9);
        assert!((s.mib_per_s - 4.0).abs() < 1e-9);
        assert!((s.requests_per_op - 3.0).abs() < 1e-9);
    }
}
