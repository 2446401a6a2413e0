//! The traits a chain plugin implements.

use std::future::Future;
use std::pin::Pin;

use alloy_primitives::{Address, Bytes, B256, U256};

use crate::error::{ChainError, Result};
use crate::finality::Finality;
use crate::types::{
    BlockId, BlockRef, BlockTag, CallRequest, Capabilities, FeeEstimate, Log, LogFilter, Receipt,
    TxStatus,
};

/// What every chain method returns: a boxed future that can move between threads and
/// borrows the plugin for `'a`. Implementations write `Box::pin(async move { .. })`.
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Reading a chain. Everything a watcher, the settler or the durable sender reads.
pub trait ChainReader: Send + Sync {
    /// The chain's own id (for an EVM chain, the EIP-155 chain id), as the endpoint reports
    /// it; the node compares it with the configured one at start-up.
    fn chain_id(&self) -> ChainFuture<'_, u64>;

    /// A block by height, hash or tag; `None` when the chain has no such block (yet).
    fn block(&self, id: BlockId) -> ChainFuture<'_, Option<BlockRef>>;

    /// The logs `filter` selects, ordered by block then log index. A plugin may split the
    /// range into several requests; callers keep ranges within their finality bound.
    fn logs(&self, filter: LogFilter) -> ChainFuture<'_, Vec<Log>>;

    /// The result of a read-only call at block `at`; a revert is [`ChainError::Reverted`].
    fn call(&self, call: CallRequest, at: BlockId) -> ChainFuture<'_, Bytes>;

    /// The receipt of a mined transaction; `None` while it is not in a canonical block.
    fn receipt(&self, tx: B256) -> ChainFuture<'_, Option<Receipt>>;

    /// The number of transactions `account` had sent as of block `at`: the durable sender
    /// reads it at the latest, safe and finalized heads to tell where its transactions
    /// stand.
    fn nonce(&self, account: Address, at: BlockId) -> ChainFuture<'_, u64>;

    /// The balance of `account` at block `at`, in wei.
    fn balance(&self, account: Address, at: BlockId) -> ChainFuture<'_, U256>;

    /// The head a tag names; [`ChainError::NotFound`] when the chain has none yet.
    fn head(&self, tag: BlockTag) -> ChainFuture<'_, BlockRef> {
        Box::pin(async move {
            self.block(BlockId::Tag(tag))
                .await?
                .ok_or_else(|| ChainError::NotFound(format!("the {tag} block")))
        })
    }

    /// The newest block that is final under `finality`; `None` when none is yet.
    fn final_head(&self, finality: Finality) -> ChainFuture<'_, Option<BlockRef>> {
        Box::pin(async move {
            let latest = if finality.needs_latest() {
                self.head(BlockTag::Latest).await?.number
            } else {
                0
            };
            match finality.target(latest) {
                Some(id) => self.block(id).await,
                None => Ok(None),
            }
        })
    }
}

/// Fees: what a transaction sent now should pay.
pub trait ChainFees: Send + Sync {
    /// An EIP-1559 estimate for inclusion in the next few blocks. The durable sender
    /// applies its own caps and bumps on top.
    fn estimate_fees(&self) -> ChainFuture<'_, FeeEstimate>;

    /// The gas `call` would use if sent as a transaction now.
    fn estimate_gas(&self, call: CallRequest) -> ChainFuture<'_, u64>;
}

/// Sending signed transactions and following them. Signing is the caller's: the durable
/// sender stores every signed attempt before it hands it to [`ChainSender::send_raw`].
pub trait ChainSender: Send + Sync {
    /// Broadcasts a signed transaction and returns its hash. Sending the same bytes twice
    /// is harmless: the second send may answer [`ChainError::AlreadyKnown`].
    fn send_raw(&self, signed: Bytes) -> ChainFuture<'_, B256>;

    /// Where a transaction stands.
    fn tx_status(&self, tx: B256) -> ChainFuture<'_, TxStatus>;
}

/// A settlement chain: the three interfaces and what the plugin can do besides.
pub trait Chain: ChainReader + ChainFees + ChainSender {
    /// The plugin's capabilities; start-up refuses a primary without `verifies_proofs`.
    fn capabilities(&self) -> Capabilities;
}
