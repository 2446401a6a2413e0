use std::collections::HashSet;
use std::sync::Arc;

use alloy_primitives::{Bytes, B256};
use manyfold_mempool::{delete_persisted, Candidate, PriorityCursor};
use manyfold_state::{L2State, SharedState};
use manyfold_storage::{Storage, WriteBatch};
use manyfold_types::block::fr_to_b256;
use manyfold_types::field::fr_from_be_bytes;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::{Block, BlockOp, Op, Receipt, TxStatus};

use crate::store::{put_block, put_block_ops, put_receipt, BlockStore};
use crate::BuilderError;

/// A block that is durably sealed.
#[derive(Debug, Clone)]
pub struct SealedBlock {
    /// The block.
    pub block: Arc<Block>,
    /// Receipts of the L2 transactions it consumed, included or failed.
    pub receipts: Vec<Receipt>,
    /// Mempool rows it consumed.
    pub consumed: HashSet<u64>,
    /// Priority cursor after it.
    pub cursor: PriorityCursor,
    /// The ops it applied, in order.
    pub ops: Vec<Op>,
}

/// Builds blocks on top of the durable chain of blocks. See the crate docs.
pub struct BlockBuilder {
    storage: Arc<dyn Storage>,
    state: SharedState,
    last: Block,
    cursor: PriorityCursor,
}

impl BlockBuilder {
    /// Opens the builder: reloads the state from `storage` into `state` (so that a restart
    /// starts from exactly what was committed) and writes the genesis block on first use.
    pub fn open(storage: Arc<dyn Storage>, state: SharedState) -> Result<Self, BuilderError> {
        // The chain set is fixed at genesis: the shared state was made with it, and the
        // stored state must have been too.
        let chains = state.read().expect("state lock poisoned").chains().clone();
        let loaded = L2State::open(storage.as_ref(), chains)?;
        let store = BlockStore::new(storage.clone());
        let height = store.height()?;
        let last = match store.block(height)? {
            Some(block) => block,
            None if height == 0 => {
                let genesis = Block {
                    number: 0,
                    timestamp: 0,
                    parent_hash: B256::ZERO,
                    state_root: fr_to_b256(&loaded.root()),
                    pubdata_commitment: B256::ZERO,
                    ops: Vec::new(),
                };
                let mut batch = WriteBatch::new();
                put_block(&mut batch, &genesis, &PriorityCursor::new());
                storage.commit(batch)?;
                genesis
            }
            None => return Err(BuilderError::Corrupt(format!("block {height} is missing"))),
        };
        if last.state_root != fr_to_b256(&loaded.root()) {
            return Err(BuilderError::Corrupt(format!(
                "state root differs from block {height}'s"
            )));
        }
        let cursor = store.priority_cursor()?;
        *state.write().expect("state lock poisoned") = loaded;
        Ok(Self {
            storage,
            state,
            last,
            cursor,
        })
    }

    /// The last sealed block.
    pub fn last_block(&self) -> &Block {
        &self.last
    }

    /// The timestamp the next block gets when the clock reads `now`: never below the last
    /// sealed block's.
    pub fn next_timestamp(&self, now: u64) -> u64 {
        now.max(self.last.timestamp)
    }

    /// Applies `candidates` in order and, if any was consumed, seals and durably commits
    /// block `last + 1`. Transactions the state refuses get a failed receipt; a priority op
    /// the state refuses (possible only for a deposit overflowing the amount range) stays
    /// in the lane and is retried, since each chain's requests must be consumed in order.
    ///
    /// `now` is the clock's reading (Unix seconds). The block's timestamp is
    /// `max(now, previous block's timestamp)`: the settlement contracts revert a block whose
    /// timestamp is below its parent's, so a clock stepping backwards must never produce
    /// one. The previous timestamp is the last sealed block's, as stored, so this holds
    /// across restarts.
    pub fn seal(
        &mut self,
        candidates: &[Candidate],
        now: u64,
    ) -> Result<Option<SealedBlock>, BuilderError> {
        let number = self.last.number + 1;
        let timestamp = self.next_timestamp(now);
        let mut state = self.state.write().expect("state lock poisoned");
        let mut commitment = fr_from_be_bytes(&self.last.pubdata_commitment.0)
            .map_err(|e| BuilderError::Corrupt(e.to_string()))?;
        let mut ops = Vec::with_capacity(candidates.len());
        let mut applied_ops = Vec::with_capacity(candidates.len());
        let mut receipts = Vec::new();
        let mut consumed = HashSet::new();
        let mut cursor = self.cursor.clone();
        let mut blocked_chains = HashSet::new();
        for candidate in candidates {
            if let Some(p) = candidate.priority {
                if blocked_chains.contains(&p.chain) {
                    continue;
                }
            }
            match state.apply(&candidate.op) {
                Ok(applied) => {
                    commitment = extend_commitment(commitment, &applied.pubdata);
                    if let Some(tx_hash) = candidate.tx_hash {
                        receipts.push(Receipt {
                            tx_hash,
                            block_number: number,
                            index: Some(ops.len() as u32),
                            status: TxStatus::Included,
                            error: None,
                        });
                    }
                    if let Some(p) = candidate.priority {
                        cursor.insert(p.chain, p.serial_id + 1);
                    }
                    applied_ops.push(candidate.op);
                    ops.push(BlockOp {
                        tx_hash: candidate.tx_hash,
                        priority: candidate.priority,
                        pubdata: Bytes::copy_from_slice(&applied.pubdata.encode()),
                    });
                    consumed.insert(candidate.seq);
                }
                Err(error) => match candidate.tx_hash {
                    Some(tx_hash) => {
                        receipts.push(Receipt {
                            tx_hash,
                            block_number: number,
                            index: None,
                            status: TxStatus::Failed,
                            error: Some(error.to_string()),
                        });
                        consumed.insert(candidate.seq);
                    }
                    None => {
                        tracing::error!(?candidate.priority, %error, "a priority op cannot be applied; its chain's lane waits");
                        if let Some(p) = candidate.priority {
                            blocked_chains.insert(p.chain);
                        }
                    }
                },
            }
        }
        if consumed.is_empty() {
            return Ok(None);
        }
        if timestamp > now {
            tracing::warn!(
                block = number,
                clock = now,
                previous = self.last.timestamp,
                "the clock reads earlier than the last block; keeping the last block's timestamp"
            );
            metrics::counter!("manyfold_block_clock_behind_total").increment(1);
        }
        if ops.is_empty() {
            // Every transaction failed: the block still carries a Noop, so that every block
            // has at least one step for the prover to fold.
            let applied = state.apply(&Op::Noop).expect("a Noop always applies");
            commitment = extend_commitment(commitment, &applied.pubdata);
            applied_ops.push(Op::Noop);
            ops.push(BlockOp {
                tx_hash: None,
                priority: None,
                pubdata: Bytes::copy_from_slice(&applied.pubdata.encode()),
            });
        }
        let block = Block {
            number,
            timestamp,
            parent_hash: self.last.hash(),
            state_root: fr_to_b256(&state.root()),
            pubdata_commitment: fr_to_b256(&commitment),
            ops,
        };
        let mut batch = WriteBatch::new();
        state.write_changes(&mut batch);
        put_block(&mut batch, &block, &cursor);
        put_block_ops(&mut batch, number, &applied_ops);
        for receipt in &receipts {
            put_receipt(&mut batch, receipt);
        }
        for seq in &consumed {
            delete_persisted(&mut batch, *seq);
        }
        // The block is applied in memory and not written: a crash here loses it whole.
        manyfold_types::crash::point("builder.mid_seal");
        if let Err(e) = self.storage.commit(batch) {
            // Never leave the shared state ahead of the disk: readers (mempool, RPC) would
            // see a block that does not exist. Reload what was committed; if even that
            // fails, the actor's restart reopens the builder and tries again.
            if let Ok(committed) = L2State::open(self.storage.as_ref(), state.chains().clone()) {
                *state = committed;
            }
            return Err(e.into());
        }
        drop(state);
        self.last = block.clone();
        self.cursor = cursor.clone();
        Ok(Some(SealedBlock {
            block: Arc::new(block),
            receipts,
            consumed,
            cursor,
            ops: applied_ops,
        }))
    }
}
