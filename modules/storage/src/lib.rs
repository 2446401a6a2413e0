//! Storage for Manyfold: a small key-value trait with typed tables and atomic, durable
//! commits.
//!
//! Every crate that persists something declares its tables as types implementing
//! [`Table`] and writes through a [`WriteBatch`]; a batch passed to [`Storage::commit`]
//! lands whole or not at all and is on disk when `commit` returns. Reads go through
//! [`StorageExt`], which adds typed access on top of the byte-level, object-safe
//! [`Storage`] trait so that callers can hold an `Arc<dyn Storage>`.
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

pub use codec::{Codec, CodecError};
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

    /// Applies every operation of `batch` atomically and durably.
    fn commit(&self, batch: WriteBatch) -> Result<()>;
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
            .map(|(k, v)| {
                let key = T::Key::decode(&k).map_err(|source| StorageError::Decode {
                    table: T::NAME,
                    what: "key",
                    source,
                })?;
                Ok((key, decode_value::<T>(&v)?))
            })
            .collect()
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

fn decode_value<T: Table>(bytes: &[u8]) -> Result<T::Value> {
    T::Value::decode(bytes).map_err(|source| StorageError::Decode {
        table: T::NAME,
        what: "value",
        source,
    })
}
