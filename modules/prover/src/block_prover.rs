//! Proving sealed blocks in order, resumable from durable progress.

use std::sync::Arc;

use manyfold_block_builder::BlockStore;
use manyfold_circuits::StepWitness;
use manyfold_state::L2State;
use manyfold_storage::Storage;
use manyfold_types::block::fr_to_b256;
use manyfold_types::field::fr_from_be_bytes;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::Fr;

use crate::store::{ProofStore, StoredProof};
use crate::{verify, Folding, Params};

/// Why proving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// Reading blocks or writing proofs failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A block's ops do not reproduce its state root: the block store is inconsistent.
    #[error("block {0} does not reproduce its state root")]
    Mismatch(u32),
    /// Folding or compressing failed.
    #[error(transparent)]
    Prove(#[from] crate::ProveError),
    /// The fresh proof does not verify (a bug; it is not stored).
    #[error(transparent)]
    Verify(#[from] crate::VerifyError),
    /// Asked to stop part-way through a range; nothing of it was stored.
    #[error("stopped")]
    Stopped,
}

fn storage_err(e: impl std::fmt::Display) -> ProverError {
    ProverError::Storage(e.to_string())
}

/// Called with a block's number just before the prover folds that block's ops; a test's
/// fault injection (it may panic or sleep). None by default.
pub type BlockHook = Arc<dyn Fn(u32) + Send + Sync>;

/// Proves sealed blocks in order. See the crate docs.
pub struct BlockProver {
    params: Arc<Params>,
    blocks: BlockStore,
    proofs: ProofStore,
    /// The state after the last proven block (the prover's own replica).
    replica: L2State,
    commitment: Fr,
    last_proven: u32,
    max_blocks_per_proof: u32,
    /// The block being folded (or, after the last, the range being compressed).
    proving: Option<u32>,
    hook: Option<BlockHook>,
}

impl BlockProver {
    /// Resumes after the last stored proof: replays the blocks proven so far into a
    /// replica of the state, and checks it against the last proven block.
    pub fn open(
        params: Arc<Params>,
        storage: Arc<dyn Storage>,
        max_blocks_per_proof: u32,
    ) -> Result<Self, ProverError> {
        let blocks = BlockStore::new(storage.clone());
        let proofs = ProofStore::new(storage);
        let last_proven = proofs.last_proven().map_err(storage_err)?;
        let mut replica = L2State::new(params.chains.clone());
        for n in 1..=last_proven {
            for op in blocks
                .block_ops(n)
                .map_err(storage_err)?
                .ok_or(ProverError::Mismatch(n))?
            {
                replica.apply(&op).map_err(|_| ProverError::Mismatch(n))?;
            }
        }
        let commitment = match blocks.block(last_proven).map_err(storage_err)? {
            Some(block) => {
                if block.state_root != fr_to_b256(&replica.root()) {
                    return Err(ProverError::Mismatch(last_proven));
                }
                fr_from_be_bytes(&block.pubdata_commitment.0).map_err(storage_err)?
            }
            // On a fresh store the block builder writes the genesis block as it starts,
            // which may be after the prover opens. The genesis is the empty state with a
            // zero commitment: what the replica already is, and what the builder writes.
            None if last_proven == 0 => Fr::from(0u64),
            None => return Err(ProverError::Mismatch(last_proven)),
        };
        Ok(Self {
            params,
            blocks,
            proofs,
            replica,
            commitment,
            last_proven,
            max_blocks_per_proof: max_blocks_per_proof.max(1),
            proving: None,
            hook: None,
        })
    }

    /// Calls `hook` before folding each block (fault injection for tests).
    pub(crate) fn set_block_hook(&mut self, hook: Option<BlockHook>) {
        self.hook = hook;
    }

    /// Proves with `hook` called before each block is folded: for fault-injection tests.
    #[cfg(feature = "test-utils")]
    pub fn with_block_hook(mut self, hook: BlockHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The block whose proving is under way: set while a range is proven, left in place
    /// when proving fails or panics (so the failure names its block), cleared on success.
    pub fn proving_block(&self) -> Option<u32> {
        self.proving
    }

    /// The last block covered by a proof.
    pub fn last_proven(&self) -> u32 {
        self.last_proven
    }

    /// Sealed blocks not yet proven.
    pub fn backlog(&self) -> Result<u32, ProverError> {
        Ok(self
            .blocks
            .height()
            .map_err(storage_err)?
            .saturating_sub(self.last_proven))
    }

    /// Proves the next range of sealed blocks (up to `max_blocks_per_proof`), stores the
    /// proof, and returns it; `None` when every sealed block is proven. Checks `stop`
    /// between steps, so that a shutdown does not wait for a whole range.
    pub fn prove_next(
        &mut self,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Option<StoredProof>, ProverError> {
        let height = self.blocks.height().map_err(storage_err)?;
        if height <= self.last_proven {
            return Ok(None);
        }
        let from = self.last_proven + 1;
        let to = height.min(self.last_proven + self.max_blocks_per_proof);
        // On an error the replica is left part-way through the range: the caller drops
        // this prover and reopens it from the durable progress.
        let mut folding = Folding::new(self.replica.root(), self.commitment);
        let mut commitment = self.commitment;
        for n in from..=to {
            self.proving = Some(n);
            if let Some(hook) = &self.hook {
                hook(n);
            }
            let ops = self
                .blocks
                .block_ops(n)
                .map_err(storage_err)?
                .ok_or(ProverError::Mismatch(n))?;
            for op in ops {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(ProverError::Stopped);
                }
                let witness = StepWitness::build(&self.replica, &op);
                let result = self
                    .replica
                    .apply(&op)
                    .map_err(|_| ProverError::Mismatch(n))?;
                commitment = extend_commitment(commitment, &result.pubdata);
                folding.fold(&self.params, witness)?;
            }
            let block = self
                .blocks
                .block(n)
                .map_err(storage_err)?
                .ok_or(ProverError::Mismatch(n))?;
            if block.state_root != fr_to_b256(&self.replica.root()) {
                return Err(ProverError::Mismatch(n));
            }
            tracing::info!(block = n, ops = folding.ops(), "folded block");
        }
        folding.flush(
            &self.params,
            StepWitness::build(&self.replica, &manyfold_types::Op::Noop),
        )?;
        let proof = folding.compress(&self.params)?;
        verify(&self.params.vk, &proof.snark, &proof.public)?;
        let stored = StoredProof {
            from_block: from,
            to_block: to,
            public: proof.public,
            snark: proof.snark,
        };
        self.proofs.save(&stored).map_err(storage_err)?;
        self.commitment = commitment;
        self.last_proven = to;
        self.proving = None;
        metrics::gauge!("manyfold_prover_last_proven_block").set(to as f64);
        tracing::info!(from, to, steps = stored.public.steps, "proved blocks");
        Ok(Some(stored))
    }
}
