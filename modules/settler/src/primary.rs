//! The primary settler: commits every sealed block to the primary, submits each stored
//! proof for its range, and executes up to the end of each confirmed proven range.

use std::sync::Arc;

use alloy_sol_types::SolCall;

use manyfold_contracts::bindings::Primary;
use manyfold_contracts::settlement::{PrimaryBookkeeping, StoredBlock};
use manyfold_prover::ProofStore;
use manyfold_sender::NewTx;
use manyfold_storage::WriteBatch;
use manyfold_types::block::fr_to_b256;
use manyfold_types::field::fr_from_be_bytes;
use manyfold_types::{ChainId, Fr};

use crate::contract::{ContractReader, PrimaryCounters};
use crate::error::{Result, SettlerError};
use crate::observe::{Observation, Observer};
use crate::records::{Action, PrimarySnapshot, Records};
use crate::sender::SharedSender;
use crate::source::BlockSource;
use crate::stages::{ChainRole, Stage, StageStore};
use crate::Step;

/// How the primary settler runs.
#[derive(Debug, Clone)]
pub struct PrimaryConfig {
    /// The primary's rollup id.
    pub chain: ChainId,
    /// How many chains settle the L2 (the contract's `chainCount`).
    pub chain_count: usize,
    /// The L2 state root of block 0, as the contract was deployed with.
    pub genesis_root: Fr,
    /// Most blocks committed (one transaction each) per step.
    pub max_commits_per_step: u32,
    /// Most blocks one `executeBlocks` carries.
    pub max_blocks_per_execute: u32,
    /// Fault injection for tests (a devnet's `dev.tamper_proofs`): flips one byte of each
    /// proof as it is submitted, playing a prover that forges one.
    pub tamper_proofs: bool,
}

/// The blocks the next `commitBlocks` carries: those after `committed` up to `sealed`, at
/// most `max_per_call` of them (a backlog drains `max_per_call` blocks per transaction).
fn next_commit(committed: u32, sealed: u32, max_per_call: u32) -> Option<(u32, u32)> {
    if committed >= sealed {
        return None;
    }
    let first = committed + 1;
    Some((
        first,
        sealed.min(first.saturating_add(max_per_call.max(1) - 1)),
    ))
}

/// The last block the next `executeBlocks` from block `from` carries: the furthest proven
/// range end (`ends`, ascending, all confirmed) within `max_per_call` blocks, or the first
/// end when even that range is longer (a range executes whole or not at all).
fn execute_target(from: u32, ends: &[u32], max_per_call: u32) -> Option<u32> {
    let limit = from.saturating_add(max_per_call.max(1) - 1);
    ends.iter()
        .copied()
        .rfind(|end| *end <= limit)
        .or_else(|| ends.first().copied())
}

/// Plain logic of the primary settler: [`PrimarySettler::step`] does what is due.
pub struct PrimarySettler {
    config: PrimaryConfig,
    records: Records,
    observer: Observer,
    blocks: Arc<dyn BlockSource>,
    proofs: ProofStore,
    contract: ContractReader,
    sender: SharedSender,
    books: PrimaryBookkeeping,
    reconciled: bool,
    /// Blocks the contract had executed at its final head when last read.
    executed: u32,
}

impl std::fmt::Debug for PrimarySettler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrimarySettler")
            .field("chain", &self.contract.name)
            .field("committed", &self.books.last().block_number)
            .finish_non_exhaustive()
    }
}

fn snapshot(books: &PrimaryBookkeeping) -> PrimarySnapshot {
    PrimarySnapshot::new(
        books.last(),
        fr_to_b256(&books.commitment()),
        books.sync_hashes().to_vec(),
    )
}

/// The bookkeeping after the newest block whose commit was asked for, from its snapshot;
/// `None` before the genesis snapshot is stored.
fn load_books(
    records: &Records,
    config: &PrimaryConfig,
    chain_name: &str,
) -> Result<Option<PrimaryBookkeeping>> {
    let Some(last) = records.last_primary()? else {
        return Ok(None);
    };
    let corrupt = |reason: String| SettlerError::Mismatch {
        chain: chain_name.to_owned(),
        reason,
    };
    let commitment = fr_from_be_bytes(&last.commitment.0)
        .map_err(|e| corrupt(format!("stored commitment: {e}")))?;
    let stored = last
        .stored()
        .ok_or_else(|| corrupt("the stored primary snapshot is corrupt".into()))?;
    Ok(Some(PrimaryBookkeeping::resume(
        config.chain,
        stored,
        commitment,
        last.sync_hashes,
    )?))
}

impl PrimarySettler {
    /// Opens the settler over the node's storage, resuming its bookkeeping from the last
    /// block it committed (the genesis when none).
    pub fn open(
        config: PrimaryConfig,
        records: Records,
        blocks: Arc<dyn BlockSource>,
        proofs: ProofStore,
        contract: ContractReader,
        sender: SharedSender,
    ) -> Result<Self> {
        let books = match load_books(&records, &config, &contract.name)? {
            Some(books) => books,
            None => {
                let books = PrimaryBookkeeping::genesis(
                    config.chain,
                    config.chain_count,
                    config.genesis_root,
                    Fr::from(0u64),
                );
                let mut batch = WriteBatch::new();
                records.put_primary(&mut batch, 0, snapshot(&books));
                records.storage().commit(batch)?;
                books
            }
        };
        let observer = Observer::new(
            records.clone(),
            StageStore::new(records.storage().clone()),
            config.chain,
            ChainRole::Primary,
            contract.name.clone(),
        );
        Ok(Self {
            config,
            records,
            observer,
            blocks,
            proofs,
            contract,
            sender,
            books,
            reconciled: false,
            executed: 0,
        })
    }

    /// Announces every stage it records on `events` (what `subscribeStatus` forwards).
    pub fn with_events(mut self, events: crate::StageEvents) -> Self {
        self.observer = self.observer.with_events(Some(events));
        self
    }

    /// The last block whose commit was asked for.
    pub fn committed(&self) -> u32 {
        self.books.last().block_number
    }

    fn stored(&self, block: u32) -> Result<StoredBlock> {
        self.records
            .primary(block)?
            .and_then(|s| s.stored())
            .ok_or_else(|| SettlerError::Mismatch {
                chain: self.contract.name.clone(),
                reason: format!("no record of block {block} as the primary stored it"),
            })
    }

    /// Checks, once after opening, that the contract is where the records say: no block
    /// committed that the node did not ask for, and the newest committed one is the one the
    /// node computed. Anything else is another operator or the wrong deployment.
    async fn reconcile(&mut self) -> Result<()> {
        self.forget_dropped().await?;
        let at = self.contract.latest_block().await?;
        let committed = self
            .contract
            .view(Primary::totalBlocksCommittedCall {}, at)
            .await?;
        if committed > self.committed() {
            return Err(SettlerError::Mismatch {
                chain: self.contract.name.clone(),
                reason: format!(
                    "the contract has {committed} blocks committed, the node asked for {}",
                    self.committed()
                ),
            });
        }
        let expected = self.stored(committed)?.hash();
        let stored = self.contract.stored_block_hash(committed, at).await?;
        if stored != expected {
            return Err(SettlerError::Mismatch {
                chain: self.contract.name.clone(),
                reason: format!(
                    "block {committed} is stored there as {stored}, the node computed {expected}"
                ),
            });
        }
        tracing::info!(chain = %self.contract.name, committed, asked = self.committed(), "primary reconciled with its contract");
        self.reconciled = true;
        Ok(())
    }

    /// Forgets what an operator dropped (`manyfold sender drop`) so that it is asked for
    /// again: proofs and executions by their records alone; commits with the snapshots
    /// they left, in the same write, so that the books go back to the newest commit still
    /// asked for (a crash in between can never leave a snapshot without its commit).
    async fn forget_dropped(&mut self) -> Result<()> {
        let chain = self.config.chain;
        for action in [Action::Execute, Action::Prove] {
            self.sender
                .forget_dropped(&self.records, chain, action)
                .await?;
        }
        // A dropped commit was never signed, so the contract cannot hold it: if it does
        // (committed out of band), the records stay as they are and the node stops here.
        let dropped = self
            .sender
            .dropped_newest(&self.records, chain, Action::Commit)
            .await?;
        if let Some(&first) = dropped.last() {
            let at = self.contract.latest_block().await?;
            let committed = self
                .contract
                .view(Primary::totalBlocksCommittedCall {}, at)
                .await?;
            if committed >= first {
                return Err(self.mismatch(&format!(
                    "the contract holds block {first}, whose commit an operator dropped; the records are left as they are"
                )));
            }
        }
        let records = &self.records;
        self.sender
            .forget(records, chain, Action::Commit, &dropped, |batch, blocks| {
                for block in blocks {
                    records.delete_primary(batch, *block);
                }
            })?;
        // Always from the records: a reload that failed after the write above is done on
        // the next try, which finds nothing more to forget.
        self.books = load_books(&self.records, &self.config, &self.contract.name)?
            .ok_or_else(|| self.mismatch("no primary snapshot after forgetting dropped commits"))?;
        Ok(())
    }

    fn mismatch(&self, reason: &str) -> SettlerError {
        SettlerError::Mismatch {
            chain: self.contract.name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Commits the sealed blocks not asked for yet, up to `max_commits_per_step` of them
    /// in one `commitBlocks` (each commit builds on the one before, so a chain commits as
    /// many L2 blocks per L1 block as one transaction carries).
    async fn commit_sealed(&mut self) -> Result<u32> {
        let sealed = self.blocks.height()?;
        let Some((first, last)) =
            next_commit(self.committed(), sealed, self.config.max_commits_per_step)
        else {
            return Ok(0);
        };
        let mut books = self.books.clone();
        let mut commits = Vec::new();
        for number in first..=last {
            let block = self
                .blocks
                .sealed(number)?
                .ok_or_else(|| SettlerError::Blocks(format!("block {number} is not sealed")))?;
            let commit = books.commit(&block.settlement())?;
            commits.push((number, commit, snapshot(&books)));
        }
        let head = &commits[0].1;
        let call = Primary::commitBlocksCall {
            last: head.previous.into(),
            lastSyncHashes: head.previous_sync_hashes.clone(),
            blocks: commits.iter().map(|(_, c, _)| c.block.clone()).collect(),
        };
        let chain = self.config.chain;
        let records = &self.records;
        let tx = NewTx::call(
            Action::Commit.label(chain, last),
            self.contract.address,
            call.abi_encode(),
        );
        self.sender
            .enqueue(tx, |id| {
                let mut rows = WriteBatch::new();
                for (number, _, after) in commits {
                    records.put_primary(&mut rows, number, after);
                    records.put_action(&mut rows, chain, Action::Commit, number, id);
                }
                rows
            })
            .await?;
        self.books = books;
        // The primary's commit asked for, the secondaries' maybe not yet.
        manyfold_types::crash::point("settler.primary_committed");
        tracing::debug!(chain = %self.contract.name, first, last, "commit asked for");
        Ok(1)
    }

    /// Submits the next stored proof, once its range's commits are asked for.
    async fn prove_stored(&mut self) -> Result<u32> {
        let chain = self.config.chain;
        let mut sent = 0;
        loop {
            let last = self
                .records
                .last_action(chain, Action::Prove)?
                .map_or(0, |(block, _)| block);
            let Some(proof) = self.proofs.proof_covering(last + 1)? else {
                return Ok(sent);
            };
            if proof.from_block != last + 1 {
                return Err(SettlerError::Mismatch {
                    chain: self.contract.name.clone(),
                    reason: format!(
                        "the stored proof after block {last} starts at block {}",
                        proof.from_block
                    ),
                });
            }
            if proof.to_block > self.committed() {
                return Ok(sent);
            }
            let from = self.stored(last)?;
            let to = self.stored(proof.to_block)?;
            // The proof's public values must be what the contract checks it against.
            if fr_to_b256(&proof.public.old_root) != from.state_root
                || fr_to_b256(&proof.public.old_commitment) != from.commitment
                || fr_to_b256(&proof.public.new_root) != to.state_root
                || fr_to_b256(&proof.public.new_commitment) != to.commitment
            {
                return Err(SettlerError::Mismatch {
                    chain: self.contract.name.clone(),
                    reason: format!(
                        "the proof of blocks {}..={} is not of the committed roots",
                        proof.from_block, proof.to_block
                    ),
                });
            }
            let mut snark = proof.snark;
            if self.config.tamper_proofs {
                let middle = snark.len() / 2;
                if let Some(byte) = snark.get_mut(middle) {
                    *byte ^= 0x01;
                }
                tracing::warn!(chain = %self.contract.name, to = proof.to_block, "dev.tamper_proofs: submitting a forged proof");
            }
            let call = Primary::proveBlocksCall {
                lastProven: from.into(),
                to: to.into(),
                steps: proof.public.steps,
                proof: snark.into(),
            };
            let end = proof.to_block;
            self.sender
                .ask(
                    &self.records,
                    NewTx::call(
                        Action::Prove.label(chain, end),
                        self.contract.address,
                        call.abi_encode(),
                    ),
                    chain,
                    Action::Prove,
                    end,
                )
                .await?;
            tracing::info!(chain = %self.contract.name, from = last + 1, to = end, "proof submitted");
            sent += 1;
        }
    }

    /// Executes up to the end of the newest proven range the contract confirmed.
    async fn execute_confirmed(&mut self, counters: PrimaryCounters) -> Result<u32> {
        let chain = self.config.chain;
        let asked = self
            .records
            .last_action(chain, Action::Execute)?
            .map_or(0, |(block, _)| block);
        let from = counters.executed.max(asked) + 1;
        if from > counters.confirmed {
            return Ok(0);
        }
        // Only a range end: a root inside a range is the operator's word (DESIGN §1).
        let ends = self
            .records
            .actions_between(chain, Action::Prove, from, counters.confirmed)?;
        let Some(target) = execute_target(from, &ends, self.config.max_blocks_per_execute) else {
            return Ok(0);
        };
        let mut blocks = Vec::new();
        for number in from..=target {
            let block = self
                .blocks
                .sealed(number)?
                .ok_or_else(|| SettlerError::Blocks(format!("block {number} is not sealed")))?;
            blocks.push(Primary::ExecuteBlockInfo {
                storedBlock: self.stored(number)?.into(),
                ops: block.settlement().ops_for(chain),
            });
        }
        let call = Primary::executeBlocksCall { blocks };
        self.sender
            .ask(
                &self.records,
                NewTx::call(
                    Action::Execute.label(chain, target),
                    self.contract.address,
                    call.abi_encode(),
                ),
                chain,
                Action::Execute,
                target,
            )
            .await?;
        // Mid-execute: the primary's execution asked for, the secondaries' not yet.
        manyfold_types::crash::point("settler.execute_asked");
        tracing::info!(chain = %self.contract.name, from, to = target, "execution asked for");
        Ok(1)
    }

    async fn observe(&mut self, counters: PrimaryCounters) -> Result<()> {
        let chain = self.config.chain;
        let reached = [
            (Stage::Committed, counters.committed, Some(Action::Commit)),
            (Stage::Proven, counters.proven, Some(Action::Prove)),
            (Stage::Synced, counters.confirmed, None),
            (Stage::Executed, counters.executed, Some(Action::Execute)),
        ];
        // A stage is recorded only where the one before it is: the counters agree, but a
        // transaction the sender has not seen land yet holds its stage back.
        let mut ceiling = u32::MAX;
        for (stage, height, action) in reached {
            let upto = height.min(ceiling);
            let from = self.observer.cursor(stage)? + 1;
            let mut pending = Vec::new();
            for block in from..=upto {
                let block_time = self
                    .records
                    .primary(block)?
                    .and_then(|s| s.stored())
                    .map_or(0, |s| s.timestamp);
                let action = match action {
                    None => None,
                    Some(kind) => Some((kind, self.records.action_covering(chain, kind, block)?)),
                };
                pending.push(Observation {
                    block,
                    block_time,
                    action,
                });
                if pending.len() >= 256 {
                    break;
                }
            }
            ceiling = self.observer.record(stage, pending, &self.sender).await?;
        }
        self.observer.report_waiting(self.blocks.height()?)?;
        Ok(())
    }
}

impl Step for PrimarySettler {
    fn name(&self) -> String {
        format!("primary settler ({})", self.contract.name)
    }

    async fn step(&mut self) -> Result<u32> {
        self.sender.ensure_running().await?;
        if !self.reconciled {
            self.reconcile().await?;
        }
        let mut sent = self.commit_sealed().await?;
        sent += self.prove_stored().await?;
        let Some(at) = self.contract.final_block().await? else {
            return Ok(sent);
        };
        let counters = self.contract.primary_counters(at).await?;
        self.executed = counters.executed;
        self.observe(counters).await?;
        sent += self.execute_confirmed(counters).await?;
        Ok(sent)
    }

    fn pipeline(&self) -> Option<crate::Pipeline> {
        Some(crate::Pipeline {
            chain: self.config.chain,
            name: self.contract.name.clone(),
            first_unexecuted: self.executed + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_is_committed_max_per_call_blocks_per_transaction() {
        assert_eq!(next_commit(0, 0, 16), None, "nothing sealed");
        assert_eq!(next_commit(7, 7, 16), None, "everything asked for");
        assert_eq!(next_commit(0, 3, 16), Some((1, 3)));
        // 100 sealed blocks, 16 per call: seven transactions, the last one short.
        let mut committed = 0;
        let mut calls = Vec::new();
        while let Some((first, last)) = next_commit(committed, 100, 16) {
            assert_eq!(first, committed + 1);
            calls.push(last - first + 1);
            committed = last;
        }
        assert_eq!(calls, [16, 16, 16, 16, 16, 16, 4]);
        assert_eq!(
            next_commit(0, 5, 0),
            Some((1, 1)),
            "a zero limit still moves"
        );
    }

    #[test]
    fn execution_ends_at_a_proven_range_end_within_the_limit() {
        // Ranges end at 3, 5, 9 and 20; executing from block 1, 8 blocks per call.
        let ends = [3, 5, 9, 20];
        assert_eq!(execute_target(1, &ends, 8), Some(5));
        assert_eq!(execute_target(1, &ends, 64), Some(20));
        // A range longer than the limit goes whole: its root is the only proven one.
        assert_eq!(execute_target(10, &[20], 4), Some(20));
        assert_eq!(execute_target(1, &[], 64), None);
    }
}
