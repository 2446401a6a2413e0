//! Whether the endpoint answers: a gauge, error counters, and warnings that do not flood
//! the log while a chain stays down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use manyfold_chain::{ChainError, ErrorClass};

/// How often "still down" is repeated while a chain stays down.
const DOWN_WARN_EVERY: Duration = Duration::from_secs(30);

/// Metric names, also listed in the README.
pub(crate) mod names {
    /// Gauge: 1 while the endpoint answers, 0 after a request found it unreachable.
    pub(crate) const UP: &str = "manyfold_chain_up";
    /// Counter: failed requests, by `class` (`transient`/`fatal`) and `method`.
    pub(crate) const ERRORS: &str = "manyfold_chain_rpc_errors_total";
    /// Counter: retries after a transient failure, by `method`.
    pub(crate) const RETRIES: &str = "manyfold_chain_rpc_retries_total";
    /// Counter: `eth_getLogs` ranges halved after the endpoint refused their size.
    pub(crate) const LOG_SPLITS: &str = "manyfold_chain_log_range_splits_total";
}

#[derive(Debug)]
pub(crate) struct Health {
    chain: String,
    up: AtomicBool,
    last_warn: Mutex<Option<Instant>>,
}

impl Health {
    pub(crate) fn new(chain: &str) -> Self {
        metrics::gauge!(names::UP, "chain" => chain.to_owned()).set(1.0);
        Self {
            chain: chain.to_owned(),
            up: AtomicBool::new(true),
            last_warn: Mutex::new(None),
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub(crate) fn answered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            metrics::gauge!(names::UP, "chain" => self.chain.clone()).set(1.0);
            tracing::info!(chain = %self.chain, "chain endpoint answers again");
            *self.lock() = None;
        }
    }

    pub(crate) fn unreachable(&self, method: &str, error: &ChainError) {
        let was_up = self.up.swap(false, Ordering::Relaxed);
        if was_up {
            metrics::gauge!(names::UP, "chain" => self.chain.clone()).set(0.0);
        }
        let now = Instant::now();
        let mut last = self.lock();
        let due = was_up || last.is_none_or(|t| now.duration_since(t) >= DOWN_WARN_EVERY);
        if due {
            *last = Some(now);
            tracing::warn!(
                chain = %self.chain, method, %error,
                "chain endpoint is down; requests fail until it answers again"
            );
        }
    }

    pub(crate) fn retried(&self, method: &'static str) {
        metrics::counter!(names::RETRIES, "chain" => self.chain.clone(), "method" => method)
            .increment(1);
    }

    pub(crate) fn failed(&self, method: &'static str, error: &ChainError) {
        let class = match error.class() {
            ErrorClass::Transient => "transient",
            ErrorClass::Fatal => "fatal",
        };
        metrics::counter!(
            names::ERRORS,
            "chain" => self.chain.clone(), "method" => method, "class" => class
        )
        .increment(1);
    }

    pub(crate) fn log_range_split(&self) {
        metrics::counter!(names::LOG_SPLITS, "chain" => self.chain.clone()).increment(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_warn.lock().unwrap_or_else(|e| e.into_inner())
    }
}
