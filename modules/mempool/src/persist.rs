//! The durable copy of the pool: one row per admitted entry, keyed by admission order.

use manyfold_storage::{Storage, StorageExt, Table, WriteBatch};
use manyfold_types::{L2Tx, PriorityOp};

use crate::MempoolError;

/// Pooled entries by admission sequence number.
pub(crate) struct PoolTable;
impl Table for PoolTable {
    const NAME: &'static str = "mempool.entries";
    type Key = u64;
    type Value = Vec<u8>;
}

const TAG_TX: u8 = 0;
const TAG_PRIORITY: u8 = 1;

/// A persisted entry.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Tx(L2Tx),
    Priority(PriorityOp),
}

impl Entry {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Entry::Tx(tx) => [vec![TAG_TX], tx.encode()].concat(),
            Entry::Priority(op) => [
                vec![TAG_PRIORITY],
                serde_json::to_vec(op).expect("priority ops serialise"),
            ]
            .concat(),
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes.split_first()? {
            (&TAG_TX, rest) => L2Tx::decode(rest).ok().map(Entry::Tx),
            (&TAG_PRIORITY, rest) => serde_json::from_slice(rest).ok().map(Entry::Priority),
            _ => None,
        }
    }
}

pub(crate) fn load(storage: &dyn Storage) -> Result<Vec<(u64, Entry)>, MempoolError> {
    let mut out = Vec::new();
    for (seq, bytes) in storage.scan::<PoolTable>()? {
        match Entry::decode(&bytes) {
            Some(entry) => out.push((seq, entry)),
            None => tracing::warn!(seq, "skipping an unreadable mempool row"),
        }
    }
    Ok(out)
}

pub(crate) fn put(batch: &mut WriteBatch, seq: u64, entry: &Entry) {
    batch.put::<PoolTable>(&seq, &entry.encode());
}

/// Adds the deletion of pooled entry `seq` to `batch`: the block builder commits it with
/// the block that consumed the entry.
pub fn delete_persisted(batch: &mut WriteBatch, seq: u64) {
    batch.delete::<PoolTable>(&seq);
}
