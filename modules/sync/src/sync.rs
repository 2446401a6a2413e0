//! The sync actor's logic for one secondary.

use std::sync::Arc;

use alloy_sol_types::SolCall;
use manyfold_chain::BlockId;
use manyfold_contracts::attestation::Receiver;
use manyfold_contracts::bindings::{Primary, Secondary};
use manyfold_contracts::settlement::{SecondaryBookkeeping, StoredBlock};
use manyfold_sender::NewTx;
use manyfold_settler::{
    Action, BlockSource, ChainRole, ContractReader, CursorKind, Observation, Observer, Records,
    Result, SecondaryCounters, SettlerError, SharedSender, Stage, StageStore, Step,
};
use manyfold_storage::WriteBatch;
use manyfold_types::{ChainId, Fr};

use crate::committee::{Route, SyncTransport};

/// The most blocks one `commitCompressedBlocks` or `executeBlocks` may carry whatever the
/// configuration says: each block's ops are calldata and, on execution, storage writes, and
/// a call must stay well inside a block's gas limit.
pub const MAX_BLOCKS_PER_CALL: u32 = 32;

/// How one sync actor runs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The secondary's rollup id.
    pub chain: ChainId,
    /// The primary's rollup id.
    pub primary: ChainId,
    /// The L2 state root of block 0.
    pub genesis_root: Fr,
    /// The primary contract, where sync hashes are delivered.
    pub primary_receiver: Receiver,
    /// This secondary's contract, where confirmations are delivered.
    pub receiver: Receiver,
    /// Most sealed blocks looked at (and committed when they touch the chain) per step.
    pub max_blocks_per_step: u32,
    /// Most blocks one `commitCompressedBlocks` carries (capped at [`MAX_BLOCKS_PER_CALL`]).
    pub max_blocks_per_commit: u32,
    /// Most blocks one `executeBlocks` carries (capped at [`MAX_BLOCKS_PER_CALL`]).
    pub max_blocks_per_execute: u32,
    /// Fault injection for tests (a devnet's `dev.tamper_secondary_commits`): flips one
    /// byte of the state root each commit here says it builds on, so the contract refuses
    /// it, playing a commit the operator cannot land (the node must hold, not resend).
    pub tamper_commits: bool,
}

impl SyncConfig {
    fn per_call(limit: u32) -> usize {
        limit.clamp(1, MAX_BLOCKS_PER_CALL) as usize
    }
}

/// What one execution step sends for a confirmed prefix (oldest first, none executed yet):
/// the blocks of one `executeBlocks`, preceded by a `markConfirmedPrefix` at the prefix's
/// last block when the call cannot reach it (the contract executes a block only inside a
/// prefix it knows to be confirmed) and no mark there was asked for yet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ExecutionPlan<'a> {
    pub(crate) mark: Option<StoredBlock>,
    pub(crate) chunk: &'a [StoredBlock],
}

pub(crate) fn plan_execution(
    prefix: &[StoredBlock],
    max_per_call: usize,
    marked: bool,
) -> ExecutionPlan<'_> {
    let max_per_call = max_per_call.max(1);
    let chunk = &prefix[..prefix.len().min(max_per_call)];
    let mark = match prefix.last() {
        Some(reached) if prefix.len() > max_per_call && !marked => Some(*reached),
        _ => None,
    };
    ExecutionPlan { mark, chunk }
}

/// The chains a sync actor talks to.
#[derive(Clone)]
pub struct SyncChains {
    /// The secondary's contract.
    pub secondary: ContractReader,
    /// Its durable sender.
    pub sender: SharedSender,
    /// The primary's contract.
    pub primary: ContractReader,
    /// The primary's durable sender (shared with the primary settler).
    pub primary_sender: SharedSender,
}

/// Plain logic of one secondary's sync actor: commits the blocks that touch it with only
/// its ops, delivers its sync hashes to the primary and the primary's confirmations to it,
/// and executes its confirmed blocks. It never waits on another secondary: only the
/// primary's own progress (committed, executed) gates what it delivers.
pub struct SyncSettler {
    config: SyncConfig,
    records: Records,
    observer: Observer,
    blocks: Arc<dyn BlockSource>,
    chains: SyncChains,
    transport: Arc<dyn SyncTransport>,
    books: SecondaryBookkeeping,
    reconciled: bool,
    /// (L2 block, sequence) of the newest block checked as the contract stores it.
    verified: (u32, u32),
    /// (L2 block, sequence) of the newest block the contract had executed when last read.
    executed: (u32, u32),
}

impl std::fmt::Debug for SyncSettler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncSettler")
            .field("chain", &self.chains.secondary.name)
            .field("last", &self.books.last().block_number)
            .finish_non_exhaustive()
    }
}

impl SyncSettler {
    /// Opens the sync actor's logic, resuming its bookkeeping from the last block it
    /// committed (the genesis when none).
    pub fn open(
        config: SyncConfig,
        records: Records,
        blocks: Arc<dyn BlockSource>,
        chains: SyncChains,
        transport: Arc<dyn SyncTransport>,
    ) -> Result<Self> {
        let books = match records.last_secondary(config.chain)? {
            Some(last) => SecondaryBookkeeping::resume(config.chain, last),
            None => SecondaryBookkeeping::genesis(config.chain, config.genesis_root),
        };
        let observer = Observer::new(
            records.clone(),
            StageStore::new(records.storage().clone()),
            config.chain,
            ChainRole::Secondary,
            chains.secondary.name.clone(),
        );
        Ok(Self {
            config,
            records,
            observer,
            blocks,
            chains,
            transport,
            books,
            reconciled: false,
            verified: (0, 0),
            executed: (0, 0),
        })
    }

    /// Announces every stage it records on `events` (what `subscribeStatus` forwards).
    pub fn with_events(mut self, events: manyfold_settler::StageEvents) -> Self {
        self.observer = self.observer.with_events(Some(events));
        self
    }

    fn name(&self) -> &str {
        &self.chains.secondary.name
    }

    fn mismatch(&self, reason: String) -> SettlerError {
        SettlerError::Mismatch {
            chain: self.name().to_owned(),
            reason,
        }
    }

    /// The contract's count of committed blocks at the latest block, with that block.
    async fn committed_at_latest(&self) -> Result<(BlockId, u32)> {
        let at = self.chains.secondary.latest_block().await?;
        let committed = self
            .chains
            .secondary
            .view(Secondary::totalBlocksCommittedCall {}, at)
            .await?;
        Ok((at, committed))
    }

    /// Checks once after opening that the contract holds no block the node did not ask
    /// for, and that its newest is the one the node computed.
    async fn reconcile(&mut self) -> Result<()> {
        self.forget_dropped().await?;
        let (at, committed) = self.committed_at_latest().await?;
        self.verify_newest(committed, at).await?;
        tracing::info!(chain = %self.name(), committed, "secondary reconciled with its contract");
        self.reconciled = true;
        Ok(())
    }

    /// Forgets what an operator dropped (`manyfold sender drop`) so that it is asked for
    /// again: sync hash deliveries (through the primary's sender), confirmations, marks
    /// and executions by their records alone; commits with the blocks they stored and the
    /// books cursor, in one write, so that the books go back to the newest commit still
    /// asked for. Nothing refers to a dropped commit's blocks: a sync hash is delivered
    /// only for a block the contract stores at its final head, and confirmations and
    /// executions need sync hashes first.
    async fn forget_dropped(&mut self) -> Result<()> {
        let chain = self.config.chain;
        self.chains
            .primary_sender
            .forget_dropped(&self.records, chain, Action::SyncHash)
            .await?;
        for action in [Action::Execute, Action::Mark, Action::Confirm] {
            self.chains
                .sender
                .forget_dropped(&self.records, chain, action)
                .await?;
        }
        // A dropped commit was never signed, so the contract cannot hold it: if it does
        // (committed out of band), the records stay as they are and the node stops here.
        let dropped = self
            .chains
            .sender
            .dropped_newest(&self.records, chain, Action::Commit)
            .await?;
        if let Some(&first) = dropped.last() {
            let sequence = self
                .records
                .secondary(chain, first)?
                .map_or(u32::MAX, |b| b.block_sequence);
            let (_, committed) = self.committed_at_latest().await?;
            if committed >= sequence {
                return Err(self.mismatch(format!(
                    "the contract holds block {first}, whose commit an operator dropped; the records are left as they are"
                )));
            }
        }
        let records = &self.records;
        self.chains
            .sender
            .forget(records, chain, Action::Commit, &dropped, |batch, blocks| {
                for block in blocks {
                    records.delete_secondary(batch, chain, *block);
                }
                // The books look again from the block before the first one dropped.
                let first = blocks.iter().min().copied().unwrap_or(1);
                records.put_cursor(batch, chain, CursorKind::Books, first.saturating_sub(1));
            })?;
        // Always from the records: a reload that failed after the write above is done on
        // the next try, which finds nothing more to forget.
        self.books = match self.records.last_secondary(chain)? {
            Some(last) => SecondaryBookkeeping::resume(chain, last),
            None => SecondaryBookkeeping::genesis(chain, self.config.genesis_root),
        };
        self.verified = (0, 0);
        Ok(())
    }

    /// Remembers which L2 block the contract's executed sequence is (where a hold starts).
    fn note_executed(&mut self, executed: u32) -> Result<()> {
        let (block, sequence) = self.executed;
        if executed <= sequence {
            return Ok(());
        }
        if let Some(b) = self
            .records
            .secondary_between(
                self.config.chain,
                block + 1,
                self.books.last().block_number,
                None,
            )?
            .into_iter()
            .find(|b| b.block_sequence == executed)
        {
            self.executed = (b.block_number, executed);
        }
        Ok(())
    }

    /// A block the contract stores that the node never asked for.
    fn committed_out_of_band(&self, committed: u32) -> SettlerError {
        let last = self.books.last();
        SettlerError::Diverged {
            chain: self.name().to_owned(),
            block: last.block_number,
            reason: format!(
                "the contract has {committed} blocks committed, the node asked for {}: a block was committed there out of band",
                last.block_sequence
            ),
        }
    }

    /// Checks that the newest of the `committed` blocks the contract stores at `at` is the
    /// one the node computed (each sequence once: [`Self::verified`] remembers the last).
    /// A block committed there out of band, or a chain that lies, is
    /// [`SettlerError::Diverged`]: its sync hash can never match the primary's, so it never
    /// confirms and nothing after it executes there.
    async fn verify_newest(&mut self, committed: u32, at: BlockId) -> Result<()> {
        let (verified_block, verified) = self.verified;
        if committed <= verified {
            return Ok(());
        }
        let last = self.books.last();
        if committed > last.block_sequence {
            return Err(self.committed_out_of_band(committed));
        }
        let ours = self
            .records
            .secondary_between(
                self.config.chain,
                verified_block + 1,
                last.block_number,
                None,
            )?
            .into_iter()
            .find(|b| b.block_sequence == committed)
            .ok_or_else(|| self.mismatch(format!("no record of its block sequence {committed}")))?;
        let stored = self
            .chains
            .secondary
            .stored_block_hash(committed, at)
            .await?;
        if stored != ours.hash() {
            return Err(SettlerError::Diverged {
                chain: self.name().to_owned(),
                block: ours.block_number,
                reason: format!(
                    "its block sequence {committed} is stored as {stored}, the node computed {}",
                    ours.hash()
                ),
            });
        }
        self.verified = (ours.block_number, committed);
        Ok(())
    }

    /// Commits the sealed blocks that touch the chain, with only its ops: those of up to
    /// `max_blocks_per_step` sealed blocks in one `commitCompressedBlocks`.
    async fn commit_sealed(&mut self) -> Result<u32> {
        let chain = self.config.chain;
        let sealed = self.blocks.height()?;
        let cursor = self.records.cursor(chain, CursorKind::Books)?;
        let end = sealed.min(cursor.saturating_add(self.config.max_blocks_per_step.max(1)));
        if cursor >= end {
            return Ok(0);
        }
        let per_call = SyncConfig::per_call(self.config.max_blocks_per_commit);
        let mut books = self.books.clone();
        let mut commits = Vec::new();
        for number in cursor + 1..=end {
            let block = self
                .blocks
                .sealed(number)?
                .ok_or_else(|| SettlerError::Blocks(format!("block {number} is not sealed")))?;
            if let Some(commit) = books.commit(&block.settlement())? {
                commits.push(commit);
                if commits.len() >= per_call {
                    break;
                }
            }
        }
        // How far this looked: to the last block committed when the call is full.
        let looked = match commits.last() {
            Some(c) if commits.len() >= per_call => c.stored.block_number,
            _ => end,
        };
        let records = &self.records;
        if commits.is_empty() {
            let mut rows = WriteBatch::new();
            records.put_cursor(&mut rows, chain, CursorKind::Books, looked);
            records.storage().commit(rows)?;
            self.books = books;
            return Ok(0);
        }
        let mut call = Secondary::commitCompressedBlocksCall {
            last: commits[0].previous.into(),
            blocks: commits.iter().map(|c| c.block.clone()).collect(),
        };
        if self.config.tamper_commits {
            call.last.stateRoot.0[31] ^= 0x01;
            tracing::warn!(chain = %self.name(), "dev.tamper_secondary_commits: submitting a forged commit");
        }
        let last = commits.last().map_or(0, |c| c.stored.block_number);
        self.chains
            .sender
            .enqueue(
                NewTx::call(
                    Action::Commit.label(chain, last),
                    self.chains.secondary.address,
                    call.abi_encode(),
                ),
                |id| {
                    let mut rows = WriteBatch::new();
                    for commit in &commits {
                        records.put_secondary(&mut rows, chain, commit.stored);
                        records.put_action(
                            &mut rows,
                            chain,
                            Action::Commit,
                            commit.stored.block_number,
                            id,
                        );
                    }
                    records.put_cursor(&mut rows, chain, CursorKind::Books, looked);
                    rows
                },
            )
            .await?;
        self.books = books;
        // One secondary's commit asked for, the other's maybe not yet.
        manyfold_types::crash::point("sync.committed");
        Ok(1)
    }

    /// Delivers the sync hashes of the blocks committed here (final) and on the primary.
    async fn deliver_sync_hashes(&mut self, primary_committed: u32) -> Result<u32> {
        let chain = self.config.chain;
        let last = self
            .records
            .last_action(chain, Action::SyncHash)?
            .map_or(0, |(block, _)| block);
        let mut sent = 0;
        for claimed in
            self.records
                .secondary_between(chain, last + 1, primary_committed, Some(16))?
        {
            let route = Route {
                source: &self.chains.secondary,
                source_chain: chain,
                receiver: self.config.primary_receiver,
                destination_chain: self.config.primary,
            };
            let Some(tx) = self.transport.sync_hash(route, claimed).await? else {
                break;
            };
            let number = claimed.block_number;
            self.chains
                .primary_sender
                .ask(&self.records, tx, chain, Action::SyncHash, number)
                .await?;
            // Mid-synchronize: a sync hash asked for, the confirmations not yet.
            manyfold_types::crash::point("sync.sync_hash_asked");
            sent += 1;
        }
        Ok(sent)
    }

    /// Delivers the confirmation of this chain's newest block the primary has executed,
    /// when blocks of this chain wait for it. (Its own block, not the primary's newest:
    /// `syncHashAt` walks back over the blocks that do not touch the chain.)
    async fn deliver_confirmation(&mut self, primary_executed: u32) -> Result<u32> {
        let chain = self.config.chain;
        let delivered = self
            .records
            .last_action(chain, Action::Confirm)?
            .map_or(0, |(block, _)| block);
        if primary_executed <= delivered {
            return Ok(0);
        }
        let Some(target) = self
            .records
            .last_secondary_at_or_below(chain, primary_executed)?
            .filter(|b| b.block_number > delivered)
            .map(|b| b.block_number)
        else {
            return Ok(0);
        };
        let claimed = self
            .records
            .primary(target)?
            .and_then(|s| s.stored())
            .ok_or_else(|| {
                self.mismatch(format!(
                    "no record of primary block {target} as the primary stored it"
                ))
            })?;
        let route = Route {
            source: &self.chains.primary,
            source_chain: self.config.primary,
            receiver: self.config.receiver,
            destination_chain: chain,
        };
        let Some(tx) = self.transport.confirmation(route, claimed).await? else {
            return Ok(0);
        };
        self.chains
            .sender
            .ask(&self.records, tx, chain, Action::Confirm, target)
            .await?;
        Ok(1)
    }

    /// Executes the blocks of this chain up to the confirmation it received. The contract
    /// executes a block only inside the prefix that reaches the confirmed sync hash: a
    /// prefix of at most `max_blocks_per_execute` blocks goes in one call (which holds the
    /// confirmed block); a longer one is first marked executable (`markConfirmedPrefix`),
    /// then executed in calls of that size ([`plan_execution`]).
    async fn execute_confirmed(&mut self, counters: SecondaryCounters) -> Result<u32> {
        let chain = self.config.chain;
        let asked = self
            .records
            .last_action(chain, Action::Execute)?
            .map_or(0, |(block, _)| block);
        let prefix: Vec<StoredBlock> = self
            .records
            .secondary_between(chain, asked + 1, counters.confirmed_block, None)?
            .into_iter()
            .filter(|b| b.block_sequence > counters.executed)
            .collect();
        let Some(reached) = prefix.last().copied() else {
            return Ok(0);
        };
        let records = &self.records;
        let marked = records
            .action(chain, Action::Mark, reached.block_number)?
            .is_some();
        let per_call = SyncConfig::per_call(self.config.max_blocks_per_execute);
        let ExecutionPlan { mark, chunk } = plan_execution(&prefix, per_call, marked);
        let mut sent = 0;
        if let Some(reached) = mark {
            let call = Secondary::markConfirmedPrefixCall {
                reached: reached.into(),
            };
            self.chains
                .sender
                .ask(
                    records,
                    NewTx::call(
                        Action::Mark.label(chain, reached.block_number),
                        self.chains.secondary.address,
                        call.abi_encode(),
                    ),
                    chain,
                    Action::Mark,
                    reached.block_number,
                )
                .await?;
            sent += 1;
        }
        let target = chunk.last().map_or(0, |b| b.block_number);
        let mut infos = Vec::with_capacity(chunk.len());
        for stored in chunk {
            let block = self.blocks.sealed(stored.block_number)?.ok_or_else(|| {
                SettlerError::Blocks(format!("block {} is not sealed", stored.block_number))
            })?;
            infos.push(Secondary::ExecuteBlockInfo {
                storedBlock: (*stored).into(),
                ops: block.settlement().ops_for(chain),
            });
        }
        let call = Secondary::executeBlocksCall { blocks: infos };
        self.chains
            .sender
            .ask(
                &self.records,
                NewTx::call(
                    Action::Execute.label(chain, target),
                    self.chains.secondary.address,
                    call.abi_encode(),
                ),
                chain,
                Action::Execute,
                target,
            )
            .await?;
        tracing::info!(chain = %self.name(), to = target, "execution asked for");
        Ok(sent + 1)
    }

    async fn observe(
        &mut self,
        counters: SecondaryCounters,
        primary_at: BlockId,
        primary_committed: u32,
    ) -> Result<()> {
        let chain = self.config.chain;
        let stages = [
            Stage::Committed,
            Stage::Synced,
            Stage::Confirmed,
            Stage::Executed,
        ];
        let mut ceiling = u32::MAX;
        for stage in stages {
            let from = self.observer.cursor(stage)? + 1;
            let candidates = self
                .records
                .secondary_between(chain, from, ceiling, Some(256))?;
            let mut observed = Vec::new();
            for block in candidates {
                let reached = match stage {
                    Stage::Committed => block.block_sequence <= counters.committed,
                    Stage::Synced => {
                        block.block_number <= primary_committed
                            && self
                                .chains
                                .primary
                                .pending_sync_hashes(block.block_number, primary_at)
                                .await?
                                & (1u16 << chain.get())
                                == 0
                    }
                    Stage::Confirmed => block.block_number <= counters.confirmed_block,
                    _ => block.block_sequence <= counters.executed,
                };
                if !reached {
                    break;
                }
                let kind = match stage {
                    Stage::Committed => Action::Commit,
                    Stage::Synced => Action::SyncHash,
                    Stage::Confirmed => Action::Confirm,
                    _ => Action::Execute,
                };
                observed.push(Observation {
                    block: block.block_number,
                    block_time: block.timestamp,
                    action: Some((
                        kind,
                        self.records
                            .action_covering(chain, kind, block.block_number)?,
                    )),
                });
            }
            let sender = if stage == Stage::Synced {
                &self.chains.primary_sender
            } else {
                &self.chains.sender
            };
            ceiling = self.observer.record(stage, observed, sender).await?;
        }
        self.observer
            .report_waiting(self.books.last().block_number)?;
        Ok(())
    }
}

impl Step for SyncSettler {
    fn name(&self) -> String {
        format!("sync actor ({})", self.chains.secondary.name)
    }

    fn pipeline(&self) -> Option<manyfold_settler::Pipeline> {
        Some(manyfold_settler::Pipeline {
            chain: self.config.chain,
            name: self.chains.secondary.name.clone(),
            first_unexecuted: self.executed.0 + 1,
        })
    }

    async fn step(&mut self) -> Result<u32> {
        self.chains.sender.ensure_running().await?;
        if !self.reconciled {
            self.reconcile().await?;
        }
        let mut sent = self.commit_sealed().await?;
        // The primary's progress, at its final head: what may be delivered.
        let Some(primary_at) = self.chains.primary.final_block().await? else {
            return Ok(sent);
        };
        let primary_committed = self
            .chains
            .primary
            .view(Primary::totalBlocksCommittedCall {}, primary_at)
            .await?;
        let primary_executed = self
            .chains
            .primary
            .view(Primary::totalBlocksExecutedCall {}, primary_at)
            .await?;
        sent += self.deliver_sync_hashes(primary_committed).await?;
        sent += self.deliver_confirmation(primary_executed).await?;
        let Some(at) = self.chains.secondary.final_block().await? else {
            return Ok(sent);
        };
        let counters = self.chains.secondary.secondary_counters(at).await?;
        self.verify_newest(counters.committed, at).await?;
        self.note_executed(counters.executed)?;
        self.observe(counters, primary_at, primary_committed)
            .await?;
        sent += self.execute_confirmed(counters).await?;
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;

    fn prefix(numbers: impl IntoIterator<Item = u32>) -> Vec<StoredBlock> {
        numbers
            .into_iter()
            .enumerate()
            .map(|(i, block_number)| StoredBlock {
                block_number,
                block_sequence: i as u32 + 1,
                priority_operations: 0,
                timestamp: 0,
                state_root: B256::repeat_byte(block_number as u8),
                ops_hash: B256::ZERO,
                sync_hash: B256::repeat_byte(0x80 | block_number as u8),
                commitment: B256::ZERO,
            })
            .collect()
    }

    #[test]
    fn a_prefix_that_fits_one_call_is_executed_without_a_mark() {
        let blocks = prefix([3, 5, 9]);
        let plan = plan_execution(&blocks, 3, false);
        assert_eq!(plan.mark, None);
        assert_eq!(plan.chunk, &blocks[..]);
    }

    #[test]
    fn a_longer_prefix_is_marked_at_its_confirmed_block_then_executed_in_chunks() {
        let blocks = prefix(1..=7);
        let plan = plan_execution(&blocks, 3, false);
        assert_eq!(plan.mark, Some(blocks[6]), "marked at the confirmed block");
        assert_eq!(plan.chunk, &blocks[..3]);
        // The next steps (the mark asked for) go on from the executed blocks, unmarked.
        let plan = plan_execution(&blocks[3..], 3, true);
        assert_eq!(plan.mark, None);
        assert_eq!(plan.chunk, &blocks[3..6]);
        let plan = plan_execution(&blocks[6..], 3, true);
        assert_eq!((plan.mark, plan.chunk), (None, &blocks[6..]));
    }

    #[test]
    fn nothing_confirmed_plans_nothing() {
        let plan = plan_execution(&[], 32, false);
        assert_eq!((plan.mark, plan.chunk.len()), (None, 0));
    }

    #[test]
    fn the_configured_call_size_is_kept_inside_the_hard_cap() {
        assert_eq!(SyncConfig::per_call(0), 1);
        assert_eq!(SyncConfig::per_call(4), 4);
        assert_eq!(SyncConfig::per_call(1000), MAX_BLOCKS_PER_CALL as usize);
    }
}
