//! Reading a settlement contract's own counters: the truth every actor reconciles with.

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use alloy_sol_types::SolCall;
use manyfold_chain::{BlockId, BlockTag, CallRequest, Chain, Finality};
use manyfold_contracts::bindings::{Primary, Secondary};

use crate::error::{Result, SettlerError};

/// One chain's settlement contract, read at the heads its finality rule names.
#[derive(Clone)]
pub struct ContractReader {
    /// The chain's name in the node's config.
    pub name: String,
    /// The chain.
    pub chain: Arc<dyn Chain>,
    /// The settlement contract (Primary or Secondary).
    pub address: Address,
    /// Which blocks count as final there.
    pub finality: Finality,
}

impl std::fmt::Debug for ContractReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractReader")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("finality", &self.finality)
            .finish_non_exhaustive()
    }
}

/// The primary's counters at one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrimaryCounters {
    /// Blocks committed.
    pub committed: u32,
    /// Blocks covered by verified proofs.
    pub proven: u32,
    /// Blocks proven and agreed by every secondary.
    pub confirmed: u32,
    /// Blocks executed.
    pub executed: u32,
}

/// A secondary's counters at one block. Its blocks are counted by sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecondaryCounters {
    /// Blocks committed (its block sequence).
    pub committed: u32,
    /// Blocks executed (by sequence).
    pub executed: u32,
    /// The highest L2 block the primary's confirmation named.
    pub confirmed_block: u32,
    /// The primary's reverts it applied.
    pub reverts_applied: u64,
}

impl ContractReader {
    fn chain_err(&self, source: manyfold_chain::ChainError) -> SettlerError {
        SettlerError::Chain {
            chain: self.name.clone(),
            source,
        }
    }

    /// The block at which reads count as final, by hash: every read of one decision is
    /// made at that one block, never at a tag that each call resolves again (behind a
    /// load-balanced endpoint two calls at `finalized` can see two heads). `None` while no
    /// block is deep enough. A chain that cannot answer at that block any more (it keeps
    /// the latest state only and moved on) fails the read: the step is retried.
    pub async fn final_block(&self) -> Result<Option<BlockId>> {
        let latest = if self.finality.needs_latest() {
            self.chain
                .head(BlockTag::Latest)
                .await
                .map_err(|e| self.chain_err(e))?
                .number
        } else {
            0
        };
        let Some(target) = self.finality.target(latest) else {
            return Ok(None);
        };
        Ok(self
            .chain
            .block(target)
            .await
            .map_err(|e| self.chain_err(e))?
            .map(|b| BlockId::Hash(b.hash)))
    }

    /// The chain's latest block, by hash: reads of one decision made at the latest state
    /// are all made at that one block (two reads at the `latest` tag can be answered by two
    /// backends, or straddle a reorg).
    pub async fn latest_block(&self) -> Result<BlockId> {
        let head = self
            .chain
            .head(BlockTag::Latest)
            .await
            .map_err(|e| self.chain_err(e))?;
        Ok(BlockId::Hash(head.hash))
    }

    /// Calls a view of the contract at `at`.
    pub async fn view<C: SolCall>(&self, call: C, at: BlockId) -> Result<C::Return> {
        let output = self
            .chain
            .call(CallRequest::new(self.address, call.abi_encode()), at)
            .await
            .map_err(|e| self.chain_err(e))?;
        C::abi_decode_returns(&output).map_err(|e| SettlerError::Decode {
            chain: self.name.clone(),
            call: C::SIGNATURE,
            reason: e.to_string(),
        })
    }

    /// `storedBlockHashes(sequence)`: zero where nothing is stored.
    pub async fn stored_block_hash(&self, sequence: u32, at: BlockId) -> Result<B256> {
        self.view(Primary::storedBlockHashesCall::new((sequence,)), at)
            .await
    }

    /// The primary's counters at `at`.
    pub async fn primary_counters(&self, at: BlockId) -> Result<PrimaryCounters> {
        Ok(PrimaryCounters {
            committed: self.view(Primary::totalBlocksCommittedCall {}, at).await?,
            proven: self.view(Primary::totalBlocksProvenCall {}, at).await?,
            confirmed: self.view(Primary::totalBlocksConfirmedCall {}, at).await?,
            executed: self.view(Primary::totalBlocksExecutedCall {}, at).await?,
        })
    }

    /// A secondary's counters at `at`.
    pub async fn secondary_counters(&self, at: BlockId) -> Result<SecondaryCounters> {
        Ok(SecondaryCounters {
            committed: self
                .view(Secondary::totalBlocksCommittedCall {}, at)
                .await?,
            executed: self.view(Secondary::totalBlocksExecutedCall {}, at).await?,
            confirmed_block: self
                .view(Secondary::confirmedBlockNumberCall {}, at)
                .await?,
            reverts_applied: self.view(Secondary::revertsAppliedCall {}, at).await?,
        })
    }

    /// The primary's `pendingSyncHashes(block)`: a bit per secondary whose matching sync
    /// hash has not arrived.
    pub async fn pending_sync_hashes(&self, block: u32, at: BlockId) -> Result<u16> {
        self.view(Primary::pendingSyncHashesCall::new((block,)), at)
            .await
    }

    /// The primary's `syncHashAt(chain, block)`.
    pub async fn sync_hash_at(&self, chain: u16, block: u32, at: BlockId) -> Result<B256> {
        self.view(
            Primary::syncHashAtCall {
                chain,
                blockNumber: block,
            },
            at,
        )
        .await
    }
}
