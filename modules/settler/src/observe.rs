//! Recording the stages a chain's contract shows, with the transactions that got there,
//! and the per-chain settlement metrics.

use std::time::{SystemTime, UNIX_EPOCH};

use manyfold_sender::TxId;
use manyfold_types::ChainId;

use crate::error::Result;
use crate::records::{Action, CursorKind, Records};
use crate::sender::SharedSender;
use crate::stages::{ChainRole, Stage, StageRecord, StageStore};

/// A block the contract shows at a stage, and the request that got it there.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// The L2 block.
    pub block: u32,
    /// Its timestamp: stage latency counts from it.
    pub block_time: u64,
    /// The kind of action that reaches the stage, and the request (with the block it was
    /// asked for: a range's end) that covers this block, if one was asked for.
    pub action: Option<(Action, Option<(u32, TxId)>)>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Committed => "committed",
        Stage::Proven => "proven",
        Stage::Synced => "synced",
        Stage::Confirmed => "confirmed",
        Stage::Executed => "executed",
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Commit => "commit",
        Action::Prove => "prove",
        Action::SyncHash => "sync_hash",
        Action::Confirm => "confirm",
        Action::Execute => "execute",
        Action::Mark => "mark",
    }
}

/// A stage a block reached on a chain, as announced to subscribers once durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageChange {
    /// The L2 block.
    pub block: u32,
    /// The chain.
    pub chain: ChainId,
    /// The stage, its transaction and time.
    pub record: StageRecord,
}

/// Where stage changes are announced (a subscriber too slow to keep up misses some; the
/// stage records stay the truth).
pub type StageEvents = tokio::sync::broadcast::Sender<StageChange>;

/// Records one chain's stages.
#[derive(Debug, Clone)]
pub struct Observer {
    records: Records,
    stages: StageStore,
    chain: ChainId,
    role: ChainRole,
    name: String,
    events: Option<StageEvents>,
}

impl Observer {
    /// The observer of `chain` (role `role`, called `name` in metrics).
    pub fn new(
        records: Records,
        stages: StageStore,
        chain: ChainId,
        role: ChainRole,
        name: String,
    ) -> Self {
        Self {
            records,
            stages,
            chain,
            role,
            name,
            events: None,
        }
    }

    /// Announces every stage it records on `events`.
    pub fn with_events(mut self, events: Option<StageEvents>) -> Self {
        self.events = events;
        self
    }

    /// The last block recorded at `stage`.
    pub fn cursor(&self, stage: Stage) -> Result<u32> {
        self.records.cursor(self.chain, CursorKind::Observed(stage))
    }

    /// Records `stage` for the observed blocks, in order, each with the transaction that
    /// landed for it (`sender` is the chain the action is sent to). Stops at the first
    /// whose transaction the sender has not seen land yet. Returns the stage's cursor: the
    /// next stage is recorded no further.
    pub async fn record(
        &self,
        stage: Stage,
        observed: Vec<Observation>,
        sender: &SharedSender,
    ) -> Result<u32> {
        let mut cursor = self.cursor(stage)?;
        for seen in observed {
            let mut spent = None;
            let tx = match seen.action {
                None | Some((_, None)) => None,
                Some((kind, Some((end, id)))) => match sender.landed(id).await? {
                    Some(inclusion) => {
                        if end == seen.block {
                            spent = Some((kind, inclusion.gas_used, inclusion.effective_gas_price));
                        }
                        Some(inclusion.tx)
                    }
                    None => break,
                },
            };
            let at = now();
            let mut batch = manyfold_storage::WriteBatch::new();
            self.stages.record(
                &mut batch,
                seen.block,
                self.chain,
                self.role,
                StageRecord { stage, tx, at },
            )?;
            self.records.put_cursor(
                &mut batch,
                self.chain,
                CursorKind::Observed(stage),
                seen.block,
            );
            self.records.storage().commit(batch)?;
            cursor = seen.block;
            if let Some(events) = &self.events {
                // No subscriber is not an error.
                let _ = events.send(StageChange {
                    block: seen.block,
                    chain: self.chain,
                    record: StageRecord { stage, tx, at },
                });
            }
            metrics::histogram!(
                "manyfold_settlement_stage_latency_seconds",
                "chain" => self.name.clone(),
                "stage" => stage_name(stage),
            )
            .record(at.saturating_sub(seen.block_time) as f64);
            if let Some((kind, gas, price)) = spent {
                metrics::counter!(
                    "manyfold_settlement_gas_used_total",
                    "chain" => sender.chain.clone(),
                    "action" => action_name(kind),
                )
                .increment(gas);
                metrics::counter!(
                    "manyfold_settlement_fees_gwei_total",
                    "chain" => sender.chain.clone(),
                    "action" => action_name(kind),
                )
                .increment(
                    u64::try_from(u128::from(gas).saturating_mul(price) / 1_000_000_000)
                        .unwrap_or(u64::MAX),
                );
            }
            tracing::debug!(chain = %self.name, block = seen.block, stage = stage_name(stage), "stage reached");
        }
        Ok(cursor)
    }

    /// Publishes how many sealed blocks wait for each stage on this chain.
    pub fn report_waiting(&self, sealed: u32) -> Result<()> {
        for stage in self.role.stages() {
            let reached = self.cursor(*stage)?;
            metrics::gauge!(
                "manyfold_settlement_blocks_waiting",
                "chain" => self.name.clone(),
                "stage" => stage_name(*stage),
            )
            .set(f64::from(sealed.saturating_sub(reached)));
        }
        Ok(())
    }
}
