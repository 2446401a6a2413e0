//! Holds: a chain's settlement pipeline that cannot go on, why, and from which block.
//!
//! A hold is what an operator (and a user asking where their block is) sees when a chain's
//! pipeline stops moving: persisted per chain, shown per (block, chain) over RPC for every
//! block from `from_block` on that the chain has not executed, counted in metrics and
//! logged once when it starts and once when it ends. A fault that clears by itself (a
//! chain that comes back) lifts its hold at the next step that succeeds; one where going
//! on would be unsafe (a chain storing what the node did not compute, a proof or another
//! transaction refused) stops the pipeline until an operator looks.

use std::sync::Arc;

use manyfold_sender::{SenderError, StopKind};
use manyfold_storage::{Codec, CodecError, Order, Storage, StorageExt, Table, WriteBatch};
use manyfold_types::ChainId;
use serde::{Deserialize, Serialize};

use crate::error::SettlerError;

/// Why a chain's pipeline is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// A chain it reads or sends to does not answer (down, erroring, timing out). Lifted
    /// by itself once the chain answers again.
    ChainUnreachable,
    /// A chain stores a block other than the one the node computed (a block committed
    /// out of band, a lying chain): the committee does not sign, nothing there confirms.
    SyncHashMismatch,
    /// The primary refused a proof: it is not sent again, no range after it executes.
    ProofRejected,
    /// A settlement transaction was mined and reverted, or its contract refuses it.
    TransactionReverted,
    /// The contract's counters disagree with the node's records (another operator, another
    /// signer using the operator's key, a wrong deployment).
    RecordsDisagree,
}

impl HoldReason {
    /// Every reason, in code order.
    pub const ALL: [Self; 5] = [
        Self::ChainUnreachable,
        Self::SyncHashMismatch,
        Self::ProofRejected,
        Self::TransactionReverted,
        Self::RecordsDisagree,
    ];

    fn code(self) -> u8 {
        match self {
            Self::ChainUnreachable => 0,
            Self::SyncHashMismatch => 1,
            Self::ProofRejected => 2,
            Self::TransactionReverted => 3,
            Self::RecordsDisagree => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Its name in metrics, logs and RPC.
    pub fn label(self) -> &'static str {
        match self {
            Self::ChainUnreachable => "chain_unreachable",
            Self::SyncHashMismatch => "sync_hash_mismatch",
            Self::ProofRejected => "proof_rejected",
            Self::TransactionReverted => "transaction_reverted",
            Self::RecordsDisagree => "records_disagree",
        }
    }

    /// The reason a step's error holds its pipeline for.
    pub fn of(error: &SettlerError) -> Self {
        match error {
            SettlerError::Diverged { .. } => Self::SyncHashMismatch,
            SettlerError::Sender { source, .. } => match &**source {
                SenderError::Stopped(stop) => match &stop.kind {
                    StopKind::Reverted { .. } | StopKind::Refused { .. }
                        if stop.label.starts_with("prove ") =>
                    {
                        Self::ProofRejected
                    }
                    StopKind::Reverted { .. } | StopKind::Refused { .. } => {
                        Self::TransactionReverted
                    }
                    StopKind::NonceUsedElsewhere => Self::RecordsDisagree,
                },
                SenderError::Chain(_) | SenderError::Storage(_) => Self::ChainUnreachable,
                _ => Self::TransactionReverted,
            },
            SettlerError::Mismatch { .. }
            | SettlerError::Bookkeeping(_)
            | SettlerError::Stage(_)
            | SettlerError::Decode { .. } => Self::RecordsDisagree,
            SettlerError::Chain { .. }
            | SettlerError::Storage(_)
            | SettlerError::Blocks(_)
            | SettlerError::Watcher(_)
            | SettlerError::Attestation(_) => Self::ChainUnreachable,
        }
    }
}

/// A held pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Why.
    pub reason: HoldReason,
    /// The first block the chain has not finished (executed): it and every later block
    /// are held there.
    pub from_block: u32,
    /// What failed, as the error said it.
    pub detail: String,
    /// When the hold started, in seconds since the Unix epoch.
    pub since: u64,
}

impl Hold {
    /// Whether block `block` is held by it.
    pub fn holds(&self, block: u32) -> bool {
        block >= self.from_block
    }
}

/// `settler.holds`: chain → its hold (at most one per chain: the newest reason).
struct HoldTable;

impl Table for HoldTable {
    const NAME: &'static str = "settler.holds";
    type Key = u16;
    type Value = Hold;
}

impl Codec for Hold {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + self.detail.len());
        out.push(self.reason.code());
        out.extend_from_slice(&self.from_block.to_be_bytes());
        out.extend_from_slice(&self.since.to_be_bytes());
        out.extend_from_slice(self.detail.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() < 13 {
            return Err(CodecError::Length {
                expected: 13,
                actual: bytes.len(),
            });
        }
        let reason = HoldReason::from_code(bytes[0])
            .ok_or_else(|| CodecError::Invalid(format!("hold reason {}", bytes[0])))?;
        Ok(Self {
            reason,
            from_block: u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes")),
            since: u64::from_be_bytes(bytes[5..13].try_into().expect("8 bytes")),
            detail: String::from_utf8(bytes[13..].to_vec())
                .map_err(|e| CodecError::Invalid(format!("hold detail: {e}")))?,
        })
    }
}

/// The holds, on the storage trait.
#[derive(Debug, Clone)]
pub struct HoldStore {
    storage: Arc<dyn Storage>,
}

impl HoldStore {
    /// The holds kept in `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// Holds `chain`'s pipeline (replacing any hold it had).
    pub fn hold(&self, chain: ChainId, hold: &Hold) -> Result<(), manyfold_storage::StorageError> {
        let mut batch = WriteBatch::new();
        batch.put::<HoldTable>(&chain.get(), hold);
        self.storage.commit(batch)
    }

    /// Lifts `chain`'s hold; returns it.
    pub fn lift(&self, chain: ChainId) -> Result<Option<Hold>, manyfold_storage::StorageError> {
        let Some(hold) = self.get(chain)? else {
            return Ok(None);
        };
        let mut batch = WriteBatch::new();
        batch.delete::<HoldTable>(&chain.get());
        self.storage.commit(batch)?;
        Ok(Some(hold))
    }

    /// `chain`'s hold, if it is held.
    pub fn get(&self, chain: ChainId) -> Result<Option<Hold>, manyfold_storage::StorageError> {
        self.storage.get::<HoldTable>(&chain.get())
    }

    /// Every held chain, by rollup id.
    pub fn all(&self) -> Result<Vec<(ChainId, Hold)>, manyfold_storage::StorageError> {
        Ok(self
            .storage
            .range::<HoldTable>(0..=u16::MAX, Order::Ascending, None)?
            .into_iter()
            .filter_map(|(chain, hold)| ChainId::new(chain).ok().map(|c| (c, hold)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_sender::StopReason;
    use manyfold_storage::MemoryStorage;

    fn chain(c: u16) -> ChainId {
        ChainId::new(c).unwrap()
    }

    #[test]
    fn holds_are_kept_per_chain_and_lifted() {
        let store = HoldStore::new(Arc::new(MemoryStorage::new()));
        let hold = Hold {
            reason: HoldReason::ChainUnreachable,
            from_block: 7,
            detail: "chain `beta`: connection refused".into(),
            since: 1_700_000_000,
        };
        store.hold(chain(2), &hold).unwrap();
        assert_eq!(store.get(chain(2)).unwrap(), Some(hold.clone()));
        assert_eq!(store.get(chain(1)).unwrap(), None);
        assert_eq!(store.all().unwrap(), vec![(chain(2), hold.clone())]);
        assert!(hold.holds(7) && hold.holds(9) && !hold.holds(6));
        assert_eq!(store.lift(chain(2)).unwrap(), Some(hold));
        assert_eq!(store.lift(chain(2)).unwrap(), None);
        assert!(store.all().unwrap().is_empty());
    }

    #[test]
    fn errors_map_to_the_reason_an_operator_needs() {
        let stopped = |label: &str, kind: StopKind| SettlerError::Sender {
            chain: "primary".into(),
            source: Box::new(SenderError::Stopped(StopReason {
                nonce: 3,
                label: label.into(),
                kind,
            })),
        };
        let refused = StopKind::Refused {
            reason: None,
            data: Default::default(),
        };
        assert_eq!(
            HoldReason::of(&stopped("prove 12 (chain 0)", refused.clone())),
            HoldReason::ProofRejected
        );
        assert_eq!(
            HoldReason::of(&stopped("execute 12 (chain 0)", refused)),
            HoldReason::TransactionReverted
        );
        assert_eq!(
            HoldReason::of(&stopped("commit 4 (chain 1)", StopKind::NonceUsedElsewhere)),
            HoldReason::RecordsDisagree
        );
        let diverged = SettlerError::Diverged {
            chain: "beta".into(),
            block: 4,
            reason: "stored as 0x01".into(),
        };
        assert_eq!(HoldReason::of(&diverged), HoldReason::SyncHashMismatch);
        let down = SettlerError::Chain {
            chain: "beta".into(),
            source: manyfold_chain::ChainError::Transport("connection refused".into()),
        };
        assert_eq!(HoldReason::of(&down), HoldReason::ChainUnreachable);
    }
}
