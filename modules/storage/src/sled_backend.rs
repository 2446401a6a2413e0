use std::path::Path;

use crate::table::BatchOp;
use crate::{Result, Storage, WriteBatch};

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
