use std::ops::Bound;
use std::path::Path;

use crate::table::BatchOp;
use crate::{is_inverted, take_in_order, Order, Result, Storage, WriteBatch};

/// A durable [`Storage`] on sled.
///
/// All tables live in one sled tree, each key prefixed with its table's name and a NUL
/// byte. One tree is what makes a commit atomic: sled applies a `Batch` to a single tree
/// atomically, also across a crash, while batches over several trees would need its
/// transaction machinery. `commit` flushes before returning, so a returned commit is on disk.
#[derive(Debug, Clone)]
pub struct SledStorage {
    db: sled::Db,
}

impl SledStorage {
    /// Opens (creating if needed) the store in directory `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let db = sled::Config::new()
            .path(path.as_ref())
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(Self { db })
    }

    /// Bytes used on disk, as reported by sled.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

fn prefixed(table: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(table.len() + 1 + key.len());
    out.extend_from_slice(table.as_bytes());
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// The bound of `table`'s part of the tree that `bound` on its keys stands for. An open
/// start is the table's prefix; an open end is just past every key with that prefix: the
/// name followed by 1 (names hold no NUL, so no other table's key falls in between).
fn prefixed_bound(table: &str, bound: Bound<&[u8]>, open: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(key) => Bound::Included(prefixed(table, key)),
        Bound::Excluded(key) => Bound::Excluded(prefixed(table, key)),
        Bound::Unbounded => open,
    }
}

impl Storage for SledStorage {
    fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(prefixed(table, key))?.map(|v| v.to_vec()))
    }

    fn scan_raw(&self, table: &'static str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = prefixed(table, &[]);
        self.db
            .scan_prefix(&prefix)
            .map(|entry| {
                let (k, v) = entry?;
                Ok((k[prefix.len()..].to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn range_raw(
        &self,
        table: &'static str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if is_inverted(start, end) {
            return Ok(Vec::new());
        }
        let prefix = prefixed(table, &[]);
        let mut past_table = prefix.clone();
        *past_table.last_mut().expect("the prefix ends in NUL") = 1;
        let lo = prefixed_bound(table, start, Bound::Included(prefix.clone()));
        let hi = prefixed_bound(table, end, Bound::Excluded(past_table));
        take_in_order(self.db.range((lo, hi)), order, limit)
            .into_iter()
            .map(|entry| {
                let (k, v) = entry?;
                Ok((k[prefix.len()..].to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        let mut sled_batch = sled::Batch::default();
        for op in batch.ops {
            match op {
                BatchOp::Put { table, key, value } => {
                    sled_batch.insert(prefixed(table, &key), value);
                }
                BatchOp::Delete { table, key } => sled_batch.remove(prefixed(table, &key)),
            }
        }
        self.db.apply_batch(sled_batch)?;
        self.db.flush()?;
        Ok(())
    }
}
