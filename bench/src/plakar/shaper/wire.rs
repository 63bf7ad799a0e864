//! One direction of a shaped link as a schedule, without I/O: a wire that
//! every connection shares, sending one chunk at a time at the link's rate,
//! and a delay line behind it that adds the one-way delay to each chunk.
//!
//! The rate is a virtual clock (the instant the wire is next free), not a
//! bucket with a burst: an idle wire saves nothing up, so over any span the
//! bytes sent never exceed rate x span plus one chunk. The delay is added
//! after a chunk has left the wire and holds nothing back: a chunk is on
//! its way while the next is sent, as on a real link, so a stream is bound
//! by the rate and not by delay / chunk.

use std::time::{Duration, Instant};

/// The times of one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Its last byte has left the wire: the sender may read the next then.
    pub sent: Instant,
    /// It reaches the far end: the receiver writes it then.
    pub arrives: Instant,
}

/// One direction's wire, shared by every connection of the link.
#[derive(Debug)]
pub struct Wire {
    bytes_per_s: u64,
    delay: Duration,
    free_at: Option<Instant>,
}

impl Wire {
    pub fn new(bytes_per_s: u64, delay: Duration) -> Wire {
        assert!(bytes_per_s > 0, "a wire needs a rate");
        Wire {
            bytes_per_s,
            delay,
            free_at: None,
        }
    }

    /// Sends `len` bytes ready at `now`: after every chunk sent before it,
    /// for as long as its bytes take at the rate (rounded up to the
    /// nanosecond, so rounding never adds rate).
    pub fn send(&mut self, now: Instant, len: usize) -> Slot {
        let start = self.free_at.map_or(now, |free| free.max(now));
        let nanos = (len as u128 * 1_000_000_000).div_ceil(self.bytes_per_s as u128);
        let sent = start + Duration::from_nanos(nanos as u64);
        self.free_at = Some(sent);
        Slot {
            sent,
            arrives: sent + self.delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// 1,000 bytes a millisecond, 50 ms one way.
    fn wire() -> Wire {
        Wire::new(1_000_000, 50 * MS)
    }

    #[test]
    fn a_chunk_takes_its_bytes_at_the_rate_then_the_delay() {
        let t0 = Instant::now();
        let slot = wire().send(t0, 10_000);
        assert_eq!(slot.sent, t0 + 10 * MS);
        assert_eq!(slot.arrives, t0 + 60 * MS);
    }

    /// Two connections sending at once share the rate: the second's chunk
    /// waits for the first's, and together they take as long as their bytes.
    #[test]
    fn chunks_of_several_connections_share_one_rate() {
        let t0 = Instant::now();
        let mut wire = wire();
        let mut last = t0;
        for _ in 0..8 {
            // Eight connections, each with 4,000 bytes ready at t0.
            last = wire.send(t0, 4_000).sent;
        }
        assert_eq!(last, t0 + 32 * MS);
    }

    /// The delay line holds no chunk back: back-to-back chunks arrive
    /// spaced by their sending time, not by the delay.
    #[test]
    fn the_delay_does_not_serialise_a_stream() {
        let t0 = Instant::now();
        let mut wire = wire();
        let first = wire.send(t0, 1_000);
        let second = wire.send(first.sent, 1_000);
        assert_eq!(second.arrives - first.arrives, MS);
        assert_eq!(second.arrives, t0 + 52 * MS);
    }

    /// An idle wire saves no burst: a chunk after a pause still takes its
    /// time at the rate, from when it is ready.
    #[test]
    fn an_idle_wire_saves_nothing_up() {
        let t0 = Instant::now();
        let mut wire = wire();
        wire.send(t0, 1_000);
        let later = wire.send(t0 + 500 * MS, 5_000);
        assert_eq!(later.sent, t0 + 505 * MS);
    }

    /// Rounding is up: 3 bytes at 2 a second take 1.5 s exactly, 1 byte
    /// at 3 a second a nanosecond over a third of a second.
    #[test]
    fn rounding_never_adds_rate() {
        let t0 = Instant::now();
        assert_eq!(
            Wire::new(2, Duration::ZERO).send(t0, 3).sent,
            t0 + 1500 * MS
        );
        assert_eq!(
            Wire::new(3, Duration::ZERO).send(t0, 1).sent,
            t0 + Duration::from_nanos(333_333_334)
        );
    }

    #[test]
    fn an_empty_chunk_takes_only_the_delay() {
        let t0 = Instant::now();
        let slot = wire().send(t0, 0);
        assert_eq!(
            slot,
            Slot {
                sent: t0,
                arrives: t0 + 50 * MS
            }
        );
    }
}
