//! Rate limits (`--rate-limit N/s`): a token bucket per consumer, so a burst of up to N requests
//! passes and the steady rate is N per second; the excess is answered with code 429, never
//! dropped (the API reference: "you can expect to receive a 429 status code in an error
//! response from the server").

use std::collections::HashMap;

use tokio::time::Instant;

/// Whose budget a request is charged to: a consumer on an account, or one socket that has
/// not authenticated yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Payer {
    /// An authenticated consumer, whichever of its sockets the request came on.
    Consumer { account: String, consumer: String },
    /// A socket still without a consumer.
    Connection(u64),
}

/// The buckets, kept in the server's state. A bucket that has been idle for a second is full
/// again, the same as no bucket, so such buckets are swept whenever the map has doubled since
/// the last sweep: the map stays about as large as the payers active in the last second.
#[derive(Debug, Default)]
pub(crate) struct Rates {
    buckets: HashMap<Payer, Bucket>,
    /// The map's size after the last sweep.
    swept_at: usize,
}

#[derive(Debug)]
struct Bucket {
    /// Requests that may still pass now (at most the per-second limit).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Rates {
    /// Charges one request to `payer` under a limit of `per_second`; `false` when it is over.
    pub(crate) fn allow(&mut self, payer: Payer, per_second: u32, now: Instant) -> bool {
        let limit = f64::from(per_second.max(1));
        if self.buckets.len() >= (2 * self.swept_at).max(1024) {
            let full = std::time::Duration::from_secs(1);
            self.buckets
                .retain(|_, b| now.saturating_duration_since(b.at) < full);
            self.swept_at = self.buckets.len();
        }
        let bucket = self.buckets.entry(payer).or_insert(Bucket {
            tokens: limit,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit).min(limit);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets an unauthenticated socket's bucket (its connection ended).
    pub(crate) fn forget_connection(&mut self, id: u64) {
        self.buckets.remove(&Payer::Connection(id));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_of_n_passes_then_n_per_second() {
        let mut rates = Rates::default();
        let start = Instant::now();
        let payer = || Payer::Consumer {
            account: "1".into(),
            consumer: "c".into(),
        };
        let passed = (0..10).filter(|_| rates.allow(payer(), 5, start)).count();
        assert_eq!(passed, 5, "a burst of the limit");
        assert!(!rates.allow(payer(), 5, start + Duration::from_millis(100)));
        assert!(
            rates.allow(payer(), 5, start + Duration::from_millis(200)),
            "one back after 1/5 s"
        );
        assert!(
            rates.allow(Payer::Connection(7), 5, start),
            "another payer, another bucket"
        );
    }

    #[test]
    fn buckets_idle_for_a_second_are_swept() {
        let mut rates = Rates::default();
        let start = Instant::now();
        for id in 0..5000 {
            let now = start + Duration::from_millis(id);
            assert!(rates.allow(Payer::Connection(id), 5, now));
        }
        assert!(
            rates.buckets.len() < 2100,
            "{} buckets kept for 5000 payers spread over 5 s",
            rates.buckets.len()
        );
        let limited = Payer::Connection(4999);
        let now = start + Duration::from_millis(4999);
        let passed = (0..10)
            .filter(|_| rates.allow(limited.clone(), 5, now))
            .count();
        assert_eq!(passed, 4, "a recent bucket keeps its count");
    }
}
