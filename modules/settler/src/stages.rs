//! The durable stage record of each (block, chain).

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::B256;
use manyfold_storage::{Codec, CodecError, Order, Storage, StorageExt, Table, WriteBatch};
use manyfold_types::ChainId;
use serde::{Deserialize, Serialize};

/// How far a block has come on one chain, in the order it gets there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The chain's contract stored the block (a secondary: only the blocks with its ops).
    Committed,
    /// The primary verified a proof covering the block. The primary only.
    Proven,
    /// The primary: every secondary's sync hash for the block is recorded there. A
    /// secondary: its sync hash for the block reached the primary.
    Synced,
    /// The primary's confirmation of the block reached the secondary. Secondaries only.
    Confirmed,
    /// The chain's contract executed the block: its withdrawals can be claimed there.
    Executed,
}

impl Stage {
    fn code(self) -> u8 {
        match self {
            Self::Committed => 0,
            Self::Proven => 1,
            Self::Synced => 2,
            Self::Confirmed => 3,
            Self::Executed => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        [
            Self::Committed,
            Self::Proven,
            Self::Synced,
            Self::Confirmed,
            Self::Executed,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// Whether a chain is the primary or a secondary: they pass through different stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainRole {
    /// The chain that verifies proofs.
    Primary,
    /// A chain that reaches the state through sync hashes.
    Secondary,
}

impl ChainRole {
    /// The stages of a block on a chain of this role, in order.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Self::Primary => &[
                Stage::Committed,
                Stage::Proven,
                Stage::Synced,
                Stage::Executed,
            ],
            Self::Secondary => &[
                Stage::Committed,
                Stage::Synced,
                Stage::Confirmed,
                Stage::Executed,
            ],
        }
    }
}

/// One stage reached: by which transaction, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage.
    pub stage: Stage,
    /// The transaction that reached it (`None` where no transaction of ours did, e.g. a
    /// primary block synced by the secondaries' attestations arriving).
    pub tx: Option<B256>,
    /// When it was recorded, in seconds since the Unix epoch.
    pub at: u64,
}

/// Every stage a block reached on one chain, in order.
pub type Stages = Vec<StageRecord>;

/// Why a stage was not recorded. Nothing is written when it is not.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The stage does not exist on a chain of this role.
    #[error("block {block} on chain {chain}: a {role:?} chain has no stage {stage:?}")]
    NotForRole {
        /// The block.
        block: u32,
        /// The chain.
        chain: ChainId,
        /// Its role.
        role: ChainRole,
        /// The stage.
        stage: Stage,
    },
    /// The stage before it is not recorded yet.
    #[error("block {block} on chain {chain}: {stage:?} before {missing:?}")]
    OutOfOrder {
        /// The block.
        block: u32,
        /// The chain.
        chain: ChainId,
        /// The stage offered.
        stage: Stage,
        /// The stage it needs first.
        missing: Stage,
    },
    /// The stage is recorded already, by another transaction.
    #[error("block {block} on chain {chain}: {stage:?} is recorded with transaction {recorded:?}, not {offered:?}")]
    Conflict {
        /// The block.
        block: u32,
        /// The chain.
        chain: ChainId,
        /// The stage.
        stage: Stage,
        /// What the record says.
        recorded: Option<B256>,
        /// What was offered.
        offered: Option<B256>,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] manyfold_storage::StorageError),
}

/// `settler.stages`: (block, (chain, stage)) → (transaction, time). Big-endian keys, so a
/// block's records are one range read and blocks come in order.
struct StageTable;

impl Table for StageTable {
    const NAME: &'static str = "settler.stages";
    type Key = (u32, (u16, u8));
    type Value = StoredRecord;
}

struct StoredRecord {
    tx: Option<B256>,
    at: u64,
}

impl Codec for StoredRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        match self.tx {
            Some(tx) => {
                out.push(1);
                out.extend_from_slice(tx.as_slice());
            }
            None => {
                out.push(0);
                out.extend_from_slice(&[0; 32]);
            }
        }
        out.extend_from_slice(&self.at.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() != 41 {
            return Err(CodecError::Length {
                expected: 41,
                actual: bytes.len(),
            });
        }
        let tx = match bytes[0] {
            0 => None,
            1 => Some(B256::from_slice(&bytes[1..33])),
            flag => return Err(CodecError::Invalid(format!("stage record flag {flag}"))),
        };
        let at = u64::from_be_bytes(bytes[33..].try_into().expect("8 bytes"));
        Ok(Self { tx, at })
    }
}

/// The stage records, on the storage trait.
#[derive(Debug, Clone)]
pub struct StageStore {
    storage: Arc<dyn Storage>,
}

impl StageStore {
    /// The records kept in `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// Adds to `batch` the record of `block` reaching `record.stage` on `chain` (whose
    /// role is `role`), after checking that the stage exists for the role,
    /// that the one before it is recorded, and that it is not recorded already by another
    /// transaction. Recording the same thing again adds nothing (a resumed actor may
    /// observe a stage twice). The caller commits `batch`, with whatever else the step
    /// changed.
    pub fn record(
        &self,
        batch: &mut WriteBatch,
        block: u32,
        chain: ChainId,
        role: ChainRole,
        record: StageRecord,
    ) -> Result<(), StageError> {
        let StageRecord { stage, tx, at } = record;
        let order = role.stages();
        let Some(position) = order.iter().position(|s| *s == stage) else {
            return Err(StageError::NotForRole {
                block,
                chain,
                role,
                stage,
            });
        };
        let reached = self.stages(block, chain)?;
        if let Some(existing) = reached.iter().find(|r| r.stage == stage) {
            if existing.tx == tx {
                return Ok(());
            }
            return Err(StageError::Conflict {
                block,
                chain,
                stage,
                recorded: existing.tx,
                offered: tx,
            });
        }
        if let Some(missing) = order[..position]
            .iter()
            .find(|s| !reached.iter().any(|r| r.stage == **s))
        {
            return Err(StageError::OutOfOrder {
                block,
                chain,
                stage,
                missing: *missing,
            });
        }
        batch.put::<StageTable>(
            &(block, (chain.get(), stage.code())),
            &StoredRecord { tx, at },
        );
        Ok(())
    }

    /// The stages `block` reached on `chain`, in order.
    pub fn stages(&self, block: u32, chain: ChainId) -> Result<Stages, StageError> {
        let key = |stage: u8| (block, (chain.get(), stage));
        Ok(self
            .storage
            .range::<StageTable>(key(0)..=key(u8::MAX), Order::Ascending, None)?
            .into_iter()
            .filter_map(|((_, (_, code)), r)| {
                Stage::from_code(code).map(|stage| StageRecord {
                    stage,
                    tx: r.tx,
                    at: r.at,
                })
            })
            .collect())
    }

    /// Every chain's stages of `block`: one range read.
    pub fn block(&self, block: u32) -> Result<BTreeMap<ChainId, Stages>, StageError> {
        let mut chains: BTreeMap<ChainId, Stages> = BTreeMap::new();
        for ((_, (chain, code)), r) in self.storage.range::<StageTable>(
            (block, (0, 0))..=(block, (u16::MAX, u8::MAX)),
            Order::Ascending,
            None,
        )? {
            let (Ok(chain), Some(stage)) = (ChainId::new(chain), Stage::from_code(code)) else {
                continue;
            };
            chains.entry(chain).or_default().push(StageRecord {
                stage,
                tx: r.tx,
                at: r.at,
            });
        }
        Ok(chains)
    }

    /// The newest block that reached `stage` on `chain`, scanning back from `below`
    /// (exclusive) over at most `window` blocks: where an actor resumes. `None` when none
    /// in the window did.
    pub fn newest_at(
        &self,
        chain: ChainId,
        stage: Stage,
        below: u32,
        window: u32,
    ) -> Result<Option<u32>, StageError> {
        let from = below.saturating_sub(window);
        for block in (from..below).rev() {
            if self.stages(block, chain)?.iter().any(|r| r.stage == stage) {
                return Ok(Some(block));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_storage::MemoryStorage;

    fn chain(c: u16) -> ChainId {
        ChainId::new(c).unwrap()
    }

    fn record(
        store: &StageStore,
        block: u32,
        c: u16,
        role: ChainRole,
        stage: Stage,
        tx: u8,
    ) -> Result<(), StageError> {
        let mut batch = WriteBatch::new();
        store.record(
            &mut batch,
            block,
            chain(c),
            role,
            StageRecord {
                stage,
                tx: Some(B256::repeat_byte(tx)),
                at: 1_700_000_000 + u64::from(tx),
            },
        )?;
        store.storage.commit(batch)?;
        Ok(())
    }

    #[test]
    fn stages_are_recorded_in_their_order_once_and_read_back() {
        let store = StageStore::new(Arc::new(MemoryStorage::new()));
        use ChainRole::*;
        record(&store, 1, 0, Primary, Stage::Committed, 1).unwrap();
        assert!(matches!(
            record(&store, 1, 0, Primary, Stage::Executed, 2),
            Err(StageError::OutOfOrder {
                missing: Stage::Proven,
                ..
            })
        ));
        assert!(matches!(
            record(&store, 1, 0, Primary, Stage::Confirmed, 2),
            Err(StageError::NotForRole { .. })
        ));
        assert!(matches!(
            record(&store, 1, 1, Secondary, Stage::Proven, 2),
            Err(StageError::NotForRole { .. })
        ));
        // The same observation again is harmless; another transaction is a conflict.
        record(&store, 1, 0, Primary, Stage::Committed, 1).unwrap();
        assert!(matches!(
            record(&store, 1, 0, Primary, Stage::Committed, 9),
            Err(StageError::Conflict { .. })
        ));
        for (stage, tx) in [(Stage::Proven, 2), (Stage::Synced, 3), (Stage::Executed, 4)] {
            record(&store, 1, 0, Primary, stage, tx).unwrap();
        }
        record(&store, 1, 2, Secondary, Stage::Committed, 5).unwrap();
        record(&store, 2, 0, Primary, Stage::Committed, 6).unwrap();

        let stages: Vec<Stage> = store
            .stages(1, chain(0))
            .unwrap()
            .iter()
            .map(|r| r.stage)
            .collect();
        assert_eq!(stages, Primary.stages());
        assert_eq!(
            store.stages(1, chain(0)).unwrap()[3].tx,
            Some(B256::repeat_byte(4))
        );
        let block = store.block(1).unwrap();
        assert_eq!(
            block.keys().copied().collect::<Vec<_>>(),
            [chain(0), chain(2)]
        );
        assert_eq!(block[&chain(2)].len(), 1);
        assert_eq!(
            store
                .newest_at(chain(0), Stage::Committed, 10, 100)
                .unwrap(),
            Some(2)
        );
        assert_eq!(
            store.newest_at(chain(0), Stage::Executed, 10, 100).unwrap(),
            Some(1)
        );
        assert_eq!(
            store
                .newest_at(chain(1), Stage::Committed, 10, 100)
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_refused_record_writes_nothing() {
        let store = StageStore::new(Arc::new(MemoryStorage::new()));
        let mut batch = WriteBatch::new();
        assert!(store
            .record(
                &mut batch,
                3,
                chain(1),
                ChainRole::Secondary,
                StageRecord {
                    stage: Stage::Executed,
                    tx: None,
                    at: 0
                }
            )
            .is_err());
        assert!(batch.is_empty());
    }

    #[test]
    fn records_round_trip_with_and_without_a_transaction() {
        for tx in [None, Some(B256::repeat_byte(7))] {
            let r = StoredRecord { tx, at: 42 };
            let back = StoredRecord::decode(&r.encode()).unwrap();
            assert_eq!((back.tx, back.at), (tx, 42));
        }
        assert!(StoredRecord::decode(&[2; 41]).is_err());
        assert!(StoredRecord::decode(&[0; 40]).is_err());
    }
}
