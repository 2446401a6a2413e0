//! The block store: sealed blocks, receipts, and the builder's own progress.

use std::sync::Arc;

use alloy_primitives::B256;
use manyfold_mempool::PriorityCursor;
use manyfold_storage::{Storage, StorageExt, Table, WriteBatch};
use manyfold_types::{Block, Op, Receipt};

use crate::BuilderError;

pub(crate) struct Blocks;
impl Table for Blocks {
    const NAME: &'static str = "blocks.by_number";
    type Key = u32;
    type Value = Vec<u8>;
}

pub(crate) struct Receipts;
impl Table for Receipts {
    const NAME: &'static str = "blocks.receipts";
    type Key = [u8; 32];
    type Value = Vec<u8>;
}

/// The ops of each block as applied, signatures included: what the prover folds.
pub(crate) struct BlockOps;
impl Table for BlockOps {
    const NAME: &'static str = "blocks.ops";
    type Key = u32;
    type Value = Vec<u8>;
}

pub(crate) struct Meta;
impl Table for Meta {
    const NAME: &'static str = "blocks.meta";
    type Key = u8;
    type Value = Vec<u8>;
}

/// [`Meta`] key of the height of the last sealed block.
const META_HEIGHT: u8 = 0;
/// [`Meta`] key of the priority cursor (JSON).
const META_CURSOR: u8 = 1;

/// Read access to sealed blocks and receipts (for RPC and the settlement pipeline).
#[derive(Debug, Clone)]
pub struct BlockStore {
    storage: Arc<dyn Storage>,
}

impl BlockStore {
    /// A reader over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// Height of the last sealed block (0 before any).
    pub fn height(&self) -> Result<u32, BuilderError> {
        Ok(self
            .storage
            .get::<Meta>(&META_HEIGHT)?
            .map(|b| u32::from_be_bytes(b.try_into().unwrap_or_default()))
            .unwrap_or(0))
    }

    /// Block `number`, if sealed.
    pub fn block(&self, number: u32) -> Result<Option<Block>, BuilderError> {
        self.storage
            .get::<Blocks>(&number)?
            .map(|b| decode(&b))
            .transpose()
    }

    /// The ops block `number` applied, in order (signed transactions included).
    pub fn block_ops(&self, number: u32) -> Result<Option<Vec<Op>>, BuilderError> {
        self.storage
            .get::<BlockOps>(&number)?
            .map(|b| decode(&b))
            .transpose()
    }

    /// The receipt of a transaction, once its block is sealed.
    pub fn receipt(&self, tx_hash: &B256) -> Result<Option<Receipt>, BuilderError> {
        self.storage
            .get::<Receipts>(&tx_hash.0)?
            .map(|b| decode(&b))
            .transpose()
    }

    /// Where each chain's priority requests resume.
    pub fn priority_cursor(&self) -> Result<PriorityCursor, BuilderError> {
        self.storage
            .get::<Meta>(&META_CURSOR)?
            .map(|b| decode(&b))
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, BuilderError> {
    serde_json::from_slice(bytes).map_err(|e| BuilderError::Corrupt(e.to_string()))
}

pub(crate) fn put_block_ops(batch: &mut WriteBatch, number: u32, ops: &[Op]) {
    batch.put::<BlockOps>(&number, &serde_json::to_vec(ops).expect("ops serialise"));
}

pub(crate) fn put_block(batch: &mut WriteBatch, block: &Block, cursor: &PriorityCursor) {
    batch.put::<Blocks>(
        &block.number,
        &serde_json::to_vec(block).expect("blocks serialise"),
    );
    batch.put::<Meta>(&META_HEIGHT, &block.number.to_be_bytes().to_vec());
    batch.put::<Meta>(
        &META_CURSOR,
        &serde_json::to_vec(cursor).expect("cursors serialise"),
    );
}

pub(crate) fn put_receipt(batch: &mut WriteBatch, receipt: &Receipt) {
    batch.put::<Receipts>(
        &receipt.tx_hash.0,
        &serde_json::to_vec(receipt).expect("receipts serialise"),
    );
}
