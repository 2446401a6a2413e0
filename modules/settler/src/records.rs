//! What the settler keeps besides the stage records: the contracts' stored blocks as the
//! bookkeeping computed them, and the actions it asked the durable senders for.
//!
//! An action's row is written in the same durable commit as the sender's request
//! ([`manyfold_sender::DurableSender::enqueue_with`]), so after a crash at any instruction
//! either both exist or neither does: a resumed actor never asks twice.

use std::sync::Arc;

use alloy_primitives::B256;
use manyfold_contracts::settlement::StoredBlock;
use manyfold_sender::TxId;
use manyfold_storage::{Codec, CodecError, Json, Order, Storage, StorageExt, Table, WriteBatch};
use manyfold_types::ChainId;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A settlement transaction the settler asks for, per (chain, block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// `commitBlocks` / `commitCompressedBlocks` of one block, on that chain.
    Commit,
    /// `proveBlocks` of a range ending at the block, on the primary.
    Prove,
    /// A secondary's `receiveSyncHash` for the block, sent to the primary.
    SyncHash,
    /// `receiveConfirmation` of the primary's executed height, on a secondary.
    Confirm,
    /// `executeBlocks` up to the block, on that chain.
    Execute,
    /// A secondary's `markConfirmedPrefix` up to the block, before an execution split
    /// over several calls.
    Mark,
}

impl Action {
    fn code(self) -> u8 {
        match self {
            Self::Commit => 0,
            Self::Prove => 1,
            Self::SyncHash => 2,
            Self::Confirm => 3,
            Self::Execute => 4,
            Self::Mark => 5,
        }
    }

    /// The label of its transactions in the sender's logs and metrics.
    pub fn label(self, chain: ChainId, block: u32) -> String {
        format!("{} {block} (chain {chain})", self.what())
    }

    /// The block of `label` when it is one [`Action::label`] gives this action on `chain`:
    /// a request's label says which action it was, whatever its nonce.
    pub fn block_of(self, chain: ChainId, label: &str) -> Option<u32> {
        label
            .strip_prefix(self.what())
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|rest| rest.strip_suffix(&format!(" (chain {chain})")))
            .and_then(|block| block.parse::<u32>().ok())
    }

    /// What it is, in words (a label's first part).
    pub fn what(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Prove => "prove",
            Self::SyncHash => "sync hash",
            Self::Confirm => "confirm",
            Self::Execute => "execute",
            Self::Mark => "mark confirmed",
        }
    }
}

/// `settler.actions`: (chain, (action, block)) → the request's nonce on its sender.
struct Actions;
impl Table for Actions {
    const NAME: &'static str = "settler.actions";
    type Key = (u16, (u8, u32));
    type Value = u64;
}

/// A contract's stored block, as the bookkeeping computed it (fixed width, big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlockRow(pub StoredBlock);

const STORED_BLOCK_LEN: usize = 4 + 4 + 8 + 8 + 32 * 4;

impl Codec for StoredBlockRow {
    fn encode(&self) -> Vec<u8> {
        let b = &self.0;
        let mut out = Vec::with_capacity(STORED_BLOCK_LEN);
        out.extend_from_slice(&b.block_number.to_be_bytes());
        out.extend_from_slice(&b.block_sequence.to_be_bytes());
        out.extend_from_slice(&b.priority_operations.to_be_bytes());
        out.extend_from_slice(&b.timestamp.to_be_bytes());
        for word in [b.state_root, b.ops_hash, b.sync_hash, b.commitment] {
            out.extend_from_slice(word.as_slice());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() != STORED_BLOCK_LEN {
            return Err(CodecError::Length {
                expected: STORED_BLOCK_LEN,
                actual: bytes.len(),
            });
        }
        let u32_at = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4"));
        let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8"));
        let word = |i: usize| B256::from_slice(&bytes[24 + 32 * i..24 + 32 * (i + 1)]);
        Ok(Self(StoredBlock {
            block_number: u32_at(0),
            block_sequence: u32_at(4),
            priority_operations: u64_at(8),
            timestamp: u64_at(16),
            state_root: word(0),
            ops_hash: word(1),
            sync_hash: word(2),
            commitment: word(3),
        }))
    }
}

/// What the primary's bookkeeping needs to resume after a block: what the contract stored
/// for it, the pubdata commitment and every chain's sync hash after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimarySnapshot {
    /// The stored block, as [`StoredBlockRow`] encodes it.
    pub stored: Vec<u8>,
    /// The pubdata commitment after it.
    pub commitment: B256,
    /// Every chain's sync hash after it.
    pub sync_hashes: Vec<B256>,
}

impl PrimarySnapshot {
    /// A snapshot of `stored` with what the bookkeeping resumes from.
    pub fn new(stored: StoredBlock, commitment: B256, sync_hashes: Vec<B256>) -> Self {
        Self {
            stored: StoredBlockRow(stored).encode(),
            commitment,
            sync_hashes,
        }
    }

    /// The stored block; `None` when the row is not one (a corrupt store).
    pub fn stored(&self) -> Option<StoredBlock> {
        StoredBlockRow::decode(&self.stored).ok().map(|r| r.0)
    }
}

/// `settler.primary`: block → the primary's snapshot after it.
struct PrimaryBlocks;
impl Table for PrimaryBlocks {
    const NAME: &'static str = "settler.primary";
    type Key = u32;
    type Value = Json<PrimarySnapshot>;
}

/// `settler.secondary`: (chain, block) → what that secondary stored for the block (only
/// blocks with its ops).
struct SecondaryBlocks;
impl Table for SecondaryBlocks {
    const NAME: &'static str = "settler.secondary";
    type Key = (u16, u32);
    type Value = StoredBlockRow;
}

/// `settler.cursors`: (chain, what) → a block number: how far a chain's bookkeeping has
/// looked at sealed blocks, and how far each stage has been recorded.
struct Cursors;
impl Table for Cursors {
    const NAME: &'static str = "settler.cursors";
    type Key = (u16, u8);
    type Value = u32;
}

/// What a cursor counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// The last sealed block a secondary's bookkeeping looked at.
    Books,
    /// The last block whose stage was recorded, per stage.
    Observed(crate::stages::Stage),
}

impl CursorKind {
    fn code(self) -> u8 {
        match self {
            Self::Books => 0,
            Self::Observed(stage) => 1 + stage as u8,
        }
    }
}

/// The settler's rows on the node's storage.
#[derive(Debug, Clone)]
pub struct Records {
    storage: Arc<dyn Storage>,
}

impl Records {
    /// The rows kept in `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The storage, for commits.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Adds the record of an action's request to `batch`.
    pub fn put_action(
        &self,
        batch: &mut WriteBatch,
        chain: ChainId,
        action: Action,
        block: u32,
        id: TxId,
    ) {
        batch.put::<Actions>(&(chain.get(), (action.code(), block)), &id.0);
    }

    /// Adds the deletion of an action's record to `batch`: the action is asked for again
    /// (its request was dropped by an operator, see [`crate::SharedSender::dropped_newest`]).
    pub fn delete_action(
        &self,
        batch: &mut WriteBatch,
        chain: ChainId,
        action: Action,
        block: u32,
    ) {
        batch.delete::<Actions>(&(chain.get(), (action.code(), block)));
    }

    /// The request of an action, if it was asked for.
    pub fn action(&self, chain: ChainId, action: Action, block: u32) -> Result<Option<TxId>> {
        Ok(self
            .storage
            .get::<Actions>(&(chain.get(), (action.code(), block)))?
            .map(TxId))
    }

    /// The highest block of an action asked for on `chain`, with its request.
    pub fn last_action(&self, chain: ChainId, action: Action) -> Result<Option<(u32, TxId)>> {
        let c = chain.get();
        let a = action.code();
        Ok(self
            .storage
            .range::<Actions>((c, (a, 0))..=(c, (a, u32::MAX)), Order::Descending, Some(1))?
            .into_iter()
            .next()
            .map(|((_, (_, block)), nonce)| (block, TxId(nonce))))
    }

    /// The highest block below `below` of an action asked for on `chain`, with its
    /// request.
    pub fn last_action_below(
        &self,
        chain: ChainId,
        action: Action,
        below: u32,
    ) -> Result<Option<(u32, TxId)>> {
        let c = chain.get();
        let a = action.code();
        Ok(self
            .storage
            .range::<Actions>((c, (a, 0))..(c, (a, below)), Order::Descending, Some(1))?
            .into_iter()
            .next()
            .map(|((_, (_, block)), nonce)| (block, TxId(nonce))))
    }

    /// The first action at or above `block`, with its block: the range (proof, execution,
    /// confirmation) that covers `block`.
    pub fn action_covering(
        &self,
        chain: ChainId,
        action: Action,
        block: u32,
    ) -> Result<Option<(u32, TxId)>> {
        let c = chain.get();
        let a = action.code();
        Ok(self
            .storage
            .range::<Actions>(
                (c, (a, block))..=(c, (a, u32::MAX)),
                Order::Ascending,
                Some(1),
            )?
            .into_iter()
            .next()
            .map(|((_, (_, block)), nonce)| (block, TxId(nonce))))
    }

    /// Every action of a kind asked for on `chain` with a block in `from..=to`.
    pub fn actions_between(
        &self,
        chain: ChainId,
        action: Action,
        from: u32,
        to: u32,
    ) -> Result<Vec<u32>> {
        let c = chain.get();
        let a = action.code();
        Ok(self
            .storage
            .range::<Actions>((c, (a, from))..=(c, (a, to)), Order::Ascending, None)?
            .into_iter()
            .map(|((_, (_, block)), _)| block)
            .collect())
    }

    /// Adds the primary's snapshot after `block` to `batch`.
    pub fn put_primary(&self, batch: &mut WriteBatch, block: u32, snapshot: PrimarySnapshot) {
        batch.put::<PrimaryBlocks>(&block, &Json(snapshot));
    }

    /// Adds the deletion of the primary's snapshot after `block` to `batch` (its commit
    /// was dropped and is asked for again).
    pub fn delete_primary(&self, batch: &mut WriteBatch, block: u32) {
        batch.delete::<PrimaryBlocks>(&block);
    }

    /// The primary's snapshot after `block`.
    pub fn primary(&self, block: u32) -> Result<Option<PrimarySnapshot>> {
        Ok(self.storage.get::<PrimaryBlocks>(&block)?.map(|j| j.0))
    }

    /// The newest primary snapshot.
    pub fn last_primary(&self) -> Result<Option<PrimarySnapshot>> {
        Ok(self
            .storage
            .range::<PrimaryBlocks>(.., Order::Descending, Some(1))?
            .into_iter()
            .next()
            .map(|(_, j)| j.0))
    }

    /// Adds what secondary `chain` stores for `block` to `batch`.
    pub fn put_secondary(&self, batch: &mut WriteBatch, chain: ChainId, stored: StoredBlock) {
        batch.put::<SecondaryBlocks>(&(chain.get(), stored.block_number), &StoredBlockRow(stored));
    }

    /// Adds the deletion of what secondary `chain` stores for `block` to `batch` (its
    /// commit was dropped and is asked for again).
    pub fn delete_secondary(&self, batch: &mut WriteBatch, chain: ChainId, block: u32) {
        batch.delete::<SecondaryBlocks>(&(chain.get(), block));
    }

    /// What secondary `chain` stores for `block`, if the block touches it.
    pub fn secondary(&self, chain: ChainId, block: u32) -> Result<Option<StoredBlock>> {
        Ok(self
            .storage
            .get::<SecondaryBlocks>(&(chain.get(), block))?
            .map(|r| r.0))
    }

    /// The secondary's blocks numbered `from..=to`, in order, at most `limit`.
    pub fn secondary_between(
        &self,
        chain: ChainId,
        from: u32,
        to: u32,
        limit: Option<usize>,
    ) -> Result<Vec<StoredBlock>> {
        if from > to {
            return Ok(Vec::new());
        }
        let c = chain.get();
        Ok(self
            .storage
            .range::<SecondaryBlocks>((c, from)..=(c, to), Order::Ascending, limit)?
            .into_iter()
            .map(|(_, r)| r.0)
            .collect())
    }

    /// The secondary's newest block numbered at or below `block`.
    pub fn last_secondary_at_or_below(
        &self,
        chain: ChainId,
        block: u32,
    ) -> Result<Option<StoredBlock>> {
        let c = chain.get();
        Ok(self
            .storage
            .range::<SecondaryBlocks>((c, 0)..=(c, block), Order::Descending, Some(1))?
            .into_iter()
            .next()
            .map(|(_, r)| r.0))
    }

    /// The secondary's newest stored block.
    pub fn last_secondary(&self, chain: ChainId) -> Result<Option<StoredBlock>> {
        let c = chain.get();
        Ok(self
            .storage
            .range::<SecondaryBlocks>((c, 0)..=(c, u32::MAX), Order::Descending, Some(1))?
            .into_iter()
            .next()
            .map(|(_, r)| r.0))
    }

    /// A cursor of `chain` (0 when never moved).
    pub fn cursor(&self, chain: ChainId, kind: CursorKind) -> Result<u32> {
        Ok(self
            .storage
            .get::<Cursors>(&(chain.get(), kind.code()))?
            .unwrap_or(0))
    }

    /// Adds a cursor's new value to `batch`.
    pub fn put_cursor(&self, batch: &mut WriteBatch, chain: ChainId, kind: CursorKind, to: u32) {
        batch.put::<Cursors>(&(chain.get(), kind.code()), &to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_storage::MemoryStorage;

    fn chain(c: u16) -> ChainId {
        ChainId::new(c).unwrap()
    }

    #[test]
    fn stored_blocks_round_trip() {
        let stored = StoredBlock {
            block_number: 7,
            block_sequence: 3,
            priority_operations: 2,
            timestamp: 1_700_000_000,
            state_root: B256::repeat_byte(1),
            ops_hash: B256::repeat_byte(2),
            sync_hash: B256::repeat_byte(3),
            commitment: B256::repeat_byte(4),
        };
        let row = StoredBlockRow(stored);
        assert_eq!(StoredBlockRow::decode(&row.encode()).unwrap(), row);
        assert!(StoredBlockRow::decode(&row.encode()[1..]).is_err());
    }

    #[test]
    fn actions_are_found_by_block_and_by_range() {
        let records = Records::new(Arc::new(MemoryStorage::default()));
        let mut batch = WriteBatch::new();
        records.put_action(&mut batch, chain(0), Action::Prove, 3, TxId(10));
        records.put_action(&mut batch, chain(0), Action::Prove, 8, TxId(12));
        records.put_action(&mut batch, chain(1), Action::Prove, 20, TxId(1));
        records.put_action(&mut batch, chain(0), Action::Execute, 30, TxId(13));
        records.storage().commit(batch).unwrap();
        assert_eq!(
            records.action(chain(0), Action::Prove, 8).unwrap(),
            Some(TxId(12))
        );
        assert_eq!(records.action(chain(0), Action::Prove, 7).unwrap(), None);
        assert_eq!(
            records.last_action(chain(0), Action::Prove).unwrap(),
            Some((8, TxId(12)))
        );
        assert_eq!(
            records.action_covering(chain(0), Action::Prove, 4).unwrap(),
            Some((8, TxId(12)))
        );
        assert_eq!(
            records.action_covering(chain(0), Action::Prove, 9).unwrap(),
            None,
            "another chain's or another action's rows are not in the range"
        );
        assert_eq!(
            records
                .actions_between(chain(0), Action::Prove, 0, 8)
                .unwrap(),
            vec![3, 8]
        );
        let label = Action::Prove.label(chain(0), 8);
        assert_eq!(Action::Prove.block_of(chain(0), &label), Some(8));
        assert_eq!(Action::Prove.block_of(chain(1), &label), None);
        assert_eq!(Action::Execute.block_of(chain(0), &label), None);
        assert_eq!(Action::Prove.block_of(chain(0), "prove x (chain 0)"), None);
        // Walking down from the newest, as forgetting dropped requests does.
        assert_eq!(
            records
                .last_action_below(chain(0), Action::Prove, 8)
                .unwrap(),
            Some((3, TxId(10)))
        );
        assert_eq!(
            records
                .last_action_below(chain(0), Action::Prove, 3)
                .unwrap(),
            None
        );
        let mut batch = WriteBatch::new();
        records.delete_action(&mut batch, chain(0), Action::Prove, 8);
        records.storage().commit(batch).unwrap();
        assert_eq!(
            records.last_action(chain(0), Action::Prove).unwrap(),
            Some((3, TxId(10))),
            "a forgotten action is asked for again from the one before"
        );
    }
}
