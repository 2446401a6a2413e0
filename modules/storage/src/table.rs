use crate::Codec;

/// A named table with typed keys and values.
///
/// ```
/// use manyfold_storage::Table;
/// struct Heights;
/// impl Table for Heights {
///     const NAME: &'static str = "heights";
///     type Key = u32;
///     type Value = u64;
/// }
/// ```
pub trait Table {
    /// Unique table name; must not contain a NUL byte.
    const NAME: &'static str;
    /// Key type.
    type Key: Codec;
    /// Value type.
    type Value: Codec;
}

/// One raw operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BatchOp {
    Put {
        table: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        table: &'static str,
        key: Vec<u8>,
    },
}

/// Writes to apply together with [`crate::Storage::commit`].
///
/// Later operations on the same key win, as if applied in order.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    pub(crate) ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` under `key` in table `T`.
    pub fn put<T: Table>(&mut self, key: &T::Key, value: &T::Value) {
        self.ops.push(BatchOp::Put {
            table: T::NAME,
            key: key.encode(),
            value: value.encode(),
        });
    }

    /// Removes `key` from table `T`.
    pub fn delete<T: Table>(&mut self, key: &T::Key) {
        self.ops.push(BatchOp::Delete {
            table: T::NAME,
            key: key.encode(),
        });
    }

    /// Appends every operation of `other`, after those already here.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
