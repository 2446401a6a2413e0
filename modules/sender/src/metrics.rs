//! The sender's metrics, labelled by chain and sender address.

use alloy_primitives::Address;

/// Labels once, then the handful of series the sender reports.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    chain: String,
    sender: String,
}

impl Metrics {
    pub(crate) fn new(chain: &str, sender: Address) -> Self {
        Self {
            chain: chain.to_owned(),
            sender: sender.to_string(),
        }
    }

    fn labels(&self) -> [(&'static str, String); 2] {
        [
            ("chain", self.chain.clone()),
            ("sender", self.sender.clone()),
        ]
    }

    /// Requests stored and not yet signed; requests sent and not yet mined.
    pub(crate) fn pending(&self, queued: usize, in_flight: usize) {
        metrics::gauge!("manyfold_sender_queued", &self.labels()).set(queued as f64);
        metrics::gauge!("manyfold_sender_in_flight", &self.labels()).set(in_flight as f64);
    }

    pub(crate) fn enqueued(&self) {
        metrics::counter!("manyfold_sender_enqueued_total", &self.labels()).increment(1);
    }

    /// A signed attempt stored (first or replacement).
    pub(crate) fn attempt(&self, replacement: bool) {
        metrics::counter!("manyfold_sender_attempts_total", &self.labels()).increment(1);
        if replacement {
            metrics::counter!("manyfold_sender_replacements_total", &self.labels()).increment(1);
        }
    }

    /// A transaction final: the gas it used and the wei it paid.
    pub(crate) fn finalized(&self, gas_used: u64, effective_gas_price: u128) {
        metrics::counter!("manyfold_sender_finalized_total", &self.labels()).increment(1);
        metrics::counter!("manyfold_sender_gas_used_total", &self.labels()).increment(gas_used);
        let gwei = u128::from(gas_used) * effective_gas_price / 1_000_000_000;
        metrics::counter!("manyfold_sender_fees_paid_gwei_total", &self.labels())
            .increment(u64::try_from(gwei).unwrap_or(u64::MAX));
    }

    pub(crate) fn reorged(&self) {
        metrics::counter!("manyfold_sender_reorged_total", &self.labels()).increment(1);
    }

    pub(crate) fn stopped(&self, stopped: bool) {
        metrics::gauge!("manyfold_sender_stopped", &self.labels())
            .set(f64::from(u8::from(stopped)));
    }

    pub(crate) fn stuck_at_cap(&self, stuck: bool) {
        metrics::gauge!("manyfold_sender_stuck_at_cap", &self.labels())
            .set(f64::from(u8::from(stuck)));
    }
}
