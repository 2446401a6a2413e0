//! Storage for Manyfold: a small key-value trait with typed tables and atomic, durable
//! commits.
//!
//! Every crate that persists something declares its tables as types implementing
//! [`Table`] and writes through a [`WriteBatch`]; a batch passed to [`Storage::commit`]
//! lands whole or not at all and is on disk when `commit` returns. Reads go through
//! [`StorageExt`], which adds typed access on top of the byte-level, object-safe
//! [`Storage`] trait so that callers can hold an `Arc<dyn Storage>`.
//!
//! Range reads ([`StorageExt::range`], [`StorageExt::first`], [`StorageExt::last`]) walk
//! only the keys they return, in the keys' typed order: they need an [`OrderedKey`], a key
//! type whose encoding sorts like its values.
//!
//! Backends: [`SledStorage`] (durable, the node's default) and [`MemoryStorage`] (tests and
//! benchmarks that must not touch the disk).

mod codec;
mod error;
mod memory;
mod sled_backend;
mod table;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

use std::ops::{Bound, RangeBounds};

pub use codec::{Codec, CodecError, Json, OrderedKey};
pub use error::{Result, StorageError};
pub use memory::MemoryStorage;
pub use sled_backend::SledStorage;
pub use table::{Table, WriteBatch};

/// A byte-level, object-safe key-value store organised in named tables.
///
/// Implementations must make [`Storage::commit`] atomic (all operations of the batch or
/// none are visible, also after a crash) and durable (on stable storage before it returns).
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Reads the raw value stored under `key` in `table`.
    fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Every `(key, value)` of `table`, in ascending key order.
    fn scan_raw(&self, table: &'static str) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// The `(key, value)` pairs of `table` whose key lies within `start` and `end`
    /// (compared as byte strings), in `order`; with a `limit`, only the first `limit` of
    /// them in that order. A range whose start lies after its end is empty, not an error.
    ///
    /// Implementations must visit only the entries they return (a seek, not a filtered
    /// scan): this is what hot paths use instead of [`Storage::scan_raw`].
    fn range_raw(
        &self,
        table: &'static str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Applies every operation of `batch` atomically and durably.
    fn commit(&self, batch: WriteBatch) -> Result<()>;
}

/// The direction of a range read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Smallest key first.
    #[default]
    Ascending,
    /// Greatest key first.
    Descending,
}

/// Typed access to a [`Storage`].
pub trait StorageExt: Storage {
    /// Reads and decodes the value of `key` in table `T`.
    fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>> {
        match self.get_raw(T::NAME, &key.encode())? {
            Some(bytes) => Ok(Some(decode_value::<T>(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Reads and decodes the whole table `T`, in ascending key order.
    fn scan<T: Table>(&self) -> Result<Vec<(T::Key, T::Value)>> {
        self.scan_raw(T::NAME)?
            .into_iter()
            .map(decode_entry::<T>)
            .collect()
    }

    /// The entries of table `T` whose key lies in `range`, in `order`, at most `limit` of
    /// them (the first ones in that order). A seek, not a scan: it reads only the entries it
    /// returns, after one descent of the backend's ordered tree.
    ///
    /// ```
    /// use manyfold_storage::{MemoryStorage, Order, Storage, StorageExt, Table, WriteBatch};
    /// struct Heights;
    /// impl Table for Heights {
    ///     const NAME: &'static str = "heights";
    ///     type Key = u32;
    ///     type Value = u64;
    /// }
    /// let store = MemoryStorage::new();
    /// let mut batch = WriteBatch::new();
    /// for n in [1, 5, 9, 12] {
    ///     batch.put::<Heights>(&n, &u64::from(n * 10));
    /// }
    /// store.commit(batch)?;
    /// // The first entry at or after 6, and the last two below 12.
    /// assert_eq!(store.range::<Heights>(6.., Order::Ascending, Some(1))?, vec![(9, 90)]);
    /// assert_eq!(
    ///     store.range::<Heights>(..12, Order::Descending, Some(2))?,
    ///     vec![(9, 90), (5, 50)]
    /// );
    /// assert_eq!(store.last::<Heights>()?, Some((12, 120)));
    /// # Ok::<(), manyfold_storage::StorageError>(())
    /// ```
    fn range<T: Table>(
        &self,
        range: impl RangeBounds<T::Key>,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<(T::Key, T::Value)>>
    where
        T::Key: OrderedKey,
    {
        let start = encode_bound(range.start_bound());
        let end = encode_bound(range.end_bound());
        self.range_raw(
            T::NAME,
            as_slice_bound(&start),
            as_slice_bound(&end),
            order,
            limit,
        )?
        .into_iter()
        .map(decode_entry::<T>)
        .collect()
    }

    /// The entry of table `T` with the smallest key, if the table has any.
    fn first<T: Table>(&self) -> Result<Option<(T::Key, T::Value)>>
    where
        T::Key: OrderedKey,
    {
        Ok(self.range::<T>(.., Order::Ascending, Some(1))?.pop())
    }

    /// The entry of table `T` with the greatest key, if the table has any.
    fn last<T: Table>(&self) -> Result<Option<(T::Key, T::Value)>>
    where
        T::Key: OrderedKey,
    {
        Ok(self.range::<T>(.., Order::Descending, Some(1))?.pop())
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

fn decode_entry<T: Table>((k, v): (Vec<u8>, Vec<u8>)) -> Result<(T::Key, T::Value)> {
    let key = T::Key::decode(&k).map_err(|source| StorageError::Decode {
        table: T::NAME,
        what: "key",
        source,
    })?;
    Ok((key, decode_value::<T>(&v)?))
}

fn encode_bound<K: Codec>(bound: Bound<&K>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(k.encode()),
        Bound::Excluded(k) => Bound::Excluded(k.encode()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether no key can lie within `start` and `end`, in the cases where handing the bounds
/// to an ordered map would panic (start after end, or equal and excluded). Backends check
/// this first, so that such a range is simply empty.
pub(crate) fn is_inverted(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
            s >= e
        }
        _ => false,
    }
}

/// The first `limit` items of `entries` in `order`.
pub(crate) fn take_in_order<I: DoubleEndedIterator>(
    entries: I,
    order: Order,
    limit: Option<usize>,
) -> Vec<I::Item> {
    let limit = limit.unwrap_or(usize::MAX);
    match order {
        Order::Ascending => entries.take(limit).collect(),
        Order::Descending => entries.rev().take(limit).collect(),
    }
}

fn decode_value<T: Table>(bytes: &[u8]) -> Result<T::Value> {
    T::Value::decode(bytes).map_err(|source| StorageError::Decode {
        table: T::NAME,
        what: "value",
        source,
    })
}
