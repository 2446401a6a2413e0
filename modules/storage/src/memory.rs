use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use crate::table::BatchOp;
use crate::{is_inverted, take_in_order, Order, Result, Storage, WriteBatch};

type Tables = BTreeMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>;

/// An in-memory [`Storage`]: atomic, not durable. For tests and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    tables: RwLock<Tables>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for MemoryStorage {
    fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tables = self.tables.read().expect("memory storage lock poisoned");
        Ok(tables.get(table).and_then(|t| t.get(key)).cloned())
    }

    fn scan_raw(&self, table: &'static str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let tables = self.tables.read().expect("memory storage lock poisoned");
        Ok(tables
            .get(table)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    fn range_raw(
        &self,
        table: &'static str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let tables = self.tables.read().expect("memory storage lock poisoned");
        let Some(t) = tables.get(table) else {
            return Ok(Vec::new());
        };
        if is_inverted(start, end) {
            return Ok(Vec::new());
        }
        let entries = t
            .range::<[u8], _>((start, end))
            .map(|(k, v)| (k.clone(), v.clone()));
        Ok(take_in_order(entries, order, limit))
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        // Holding the write lock for the whole batch makes it atomic for readers.
        let mut tables = self.tables.write().expect("memory storage lock poisoned");
        for op in batch.ops {
            match op {
                BatchOp::Put { table, key, value } => {
                    tables.entry(table).or_default().insert(key, value);
                }
                BatchOp::Delete { table, key } => {
                    if let Some(t) = tables.get_mut(table) {
                        t.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }
}
