//! The priority-expiry watch: how long until the oldest request no executed block consumed
//! expires on a chain, after which anyone may put that chain into exodus (DESIGN §4). A
//! node that stalls must never drift into exodus unnoticed: the time left is a metric on
//! every chain, a warning once it is under the configured margin, an error once it is
//! gone.

use alloy_primitives::B256;
use alloy_sol_types::SolEvent;
use manyfold_chain::{BlockId, BlockTag, LogFilter};
use manyfold_contracts::bindings::Secondary;

use crate::actor::Step;
use crate::contract::ContractReader;
use crate::error::{Result, SettlerError};

/// Where a chain's oldest open request stands against its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No request is open (every one was consumed by an executed block).
    NoneOpen,
    /// More than the margin is left.
    Far {
        /// Seconds left.
        left: u64,
    },
    /// Less than the margin is left: the chain must execute soon.
    Near {
        /// Seconds left.
        left: u64,
    },
    /// Expired: anyone may activate exodus on the chain now.
    Expired {
        /// Seconds since it expired.
        ago: u64,
    },
}

impl Expiry {
    /// The standing of a request expiring at `expires_at`, at chain time `now`, warned
    /// `margin` seconds ahead. The contract's test is `expiresAt < block.timestamp`.
    pub fn of(expires_at: u64, now: u64, margin: u64) -> Self {
        if now > expires_at {
            return Self::Expired {
                ago: now - expires_at,
            };
        }
        let left = expires_at - now;
        if left <= margin {
            Self::Near { left }
        } else {
            Self::Far { left }
        }
    }

    fn level(self) -> u8 {
        match self {
            Self::NoneOpen | Self::Far { .. } => 0,
            Self::Near { .. } => 1,
            Self::Expired { .. } => 2,
        }
    }
}

/// Checks one chain's oldest open priority request against its expiry, each step.
pub struct ExpiryWatch {
    contract: ContractReader,
    margin_s: u64,
    /// Where the next search for a request's event starts: the deployment block at first,
    /// then the block of the last event found (requests come in serial order, so the next
    /// oldest open one is never before it).
    scan_from: u64,
    /// (serial id, expiresAt) of the oldest open request, once read from its event.
    oldest: Option<(u64, u64)>,
    level: u8,
    checks: u64,
}

impl ExpiryWatch {
    /// Watches `contract`'s requests (emitted from `start_block` on), warning `margin_s`
    /// seconds before the oldest open one expires.
    pub fn new(contract: ContractReader, start_block: u64, margin_s: u64) -> Self {
        Self {
            contract,
            margin_s,
            scan_from: start_block,
            oldest: None,
            level: 0,
            checks: 0,
        }
    }

    /// `expiresAt` of request `serial`, from its `PriorityRequestAdded` event (the
    /// contract keeps requests internal; the event is indexed by serial id), searched from
    /// `scan_from` on. An event not found yet (a log index behind the head) is retried.
    async fn expires_at(&mut self, serial: u64, to_block: u64) -> Result<u64> {
        let mut filter = LogFilter::default()
            .address(self.contract.address)
            .topic(0, Secondary::PriorityRequestAdded::SIGNATURE_HASH)
            .topic(1, B256::from(alloy_primitives::U256::from(serial)));
        filter.from_block = self.scan_from;
        filter.to_block = to_block;
        let logs =
            self.contract
                .chain
                .logs(filter)
                .await
                .map_err(|source| SettlerError::Chain {
                    chain: self.contract.name.clone(),
                    source,
                })?;
        let log = logs.first().ok_or_else(|| {
            SettlerError::Watcher(format!(
                "chain `{}`: no PriorityRequestAdded event of open request {serial} yet",
                self.contract.name
            ))
        })?;
        self.scan_from = log.block_number;
        let event =
            Secondary::PriorityRequestAdded::decode_raw_log(log.topics.iter().copied(), &log.data)
                .map_err(|e| SettlerError::Decode {
                    chain: self.contract.name.clone(),
                    call: "PriorityRequestAdded",
                    reason: e.to_string(),
                })?;
        Ok(event.expiresAt)
    }

    /// Reads where the oldest open request stands now (at the chain's latest block: the
    /// state `activateExodusMode` would run against).
    pub async fn check(&mut self) -> Result<Expiry> {
        let head = self
            .contract
            .chain
            .head(BlockTag::Latest)
            .await
            .map_err(|source| SettlerError::Chain {
                chain: self.contract.name.clone(),
                source,
            })?;
        let at = BlockId::Hash(head.hash);
        let executed = self
            .contract
            .view(Secondary::totalExecutedPriorityRequestsCall {}, at)
            .await?;
        let total = self
            .contract
            .view(Secondary::totalPriorityRequestsCall {}, at)
            .await?;
        metrics::gauge!("manyfold_priority_requests_open", "chain" => self.contract.name.clone())
            .set(total.saturating_sub(executed) as f64);
        if executed >= total {
            self.oldest = None;
            return Ok(Expiry::NoneOpen);
        }
        let expires_at = match self.oldest {
            Some((serial, expires_at)) if serial == executed => expires_at,
            _ => {
                let expires_at = self.expires_at(executed, head.number).await?;
                self.oldest = Some((executed, expires_at));
                expires_at
            }
        };
        Ok(Expiry::of(expires_at, head.timestamp, self.margin_s))
    }

    fn report(&mut self, expiry: Expiry) {
        let chain = self.contract.name.clone();
        let serial = self.oldest.map(|(s, _)| s);
        let left = match expiry {
            Expiry::NoneOpen => None,
            Expiry::Far { left } | Expiry::Near { left } => Some(left as f64),
            Expiry::Expired { ago } => Some(-(ago as f64)),
        };
        if let Some(left) = left {
            metrics::gauge!("manyfold_priority_oldest_expiry_seconds", "chain" => chain.clone())
                .set(left);
        }
        let level = expiry.level();
        // Each change is logged once; a chain still near or past expiry is logged again
        // every 100 checks, so that it stays in view.
        let remind = level > 0 && self.checks.is_multiple_of(100);
        if level != self.level || remind {
            match expiry {
                Expiry::Near { left } => tracing::warn!(
                    chain = %chain, serial, left_s = left, margin_s = self.margin_s,
                    "the oldest open priority request nears its expiry: past it anyone can put this chain into exodus"
                ),
                Expiry::Expired { ago } => tracing::error!(
                    chain = %chain, serial, expired_s_ago = ago,
                    "the oldest open priority request has expired: anyone can put this chain into exodus now"
                ),
                Expiry::NoneOpen | Expiry::Far { .. } if self.level > 0 => {
                    tracing::info!(chain = %chain, "no priority request near its expiry any more")
                }
                _ => {}
            }
        }
        self.level = level;
        self.checks += 1;
    }
}

impl Step for ExpiryWatch {
    fn name(&self) -> String {
        format!("expiry watch ({})", self.contract.name)
    }

    async fn step(&mut self) -> Result<u32> {
        let expiry = self.check().await?;
        self.report(expiry);
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::Expiry;

    #[test]
    fn a_request_is_far_near_then_expired_as_the_contract_counts() {
        assert_eq!(Expiry::of(1_000, 100, 300), Expiry::Far { left: 900 });
        assert_eq!(Expiry::of(1_000, 700, 300), Expiry::Near { left: 300 });
        // `expiresAt < block.timestamp`: at the second itself it has not expired.
        assert_eq!(Expiry::of(1_000, 1_000, 300), Expiry::Near { left: 0 });
        assert_eq!(Expiry::of(1_000, 1_001, 300), Expiry::Expired { ago: 1 });
        assert_eq!(Expiry::of(1_000, 100, 0), Expiry::Far { left: 900 });
    }
}
