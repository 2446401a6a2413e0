//! [`LogPoller`]: reads a filter's logs up to a chain's finality rule, notices reorgs, and
//! keeps a durable cursor.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::B256;
use manyfold_chain::{BlockId, BlockRef, ChainError, ChainReader, Finality, Log, LogFilter};
use manyfold_storage::{Json, Storage, StorageError, StorageExt, Table, WriteBatch};
use serde::{Deserialize, Serialize};

/// Where a [`LogPoller`] stands: the next block to read and the hashes of recently
/// consumed blocks, by height. Persisted as JSON in table [`LogCursors`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The first block not yet handed out.
    pub next_block: u64,
    /// Hashes of consumed blocks (the last block of every range, and every block a log
    /// came from), newest last; at most the poller's window of them.
    pub recent: BTreeMap<u64, B256>,
}

/// The table of every poller's cursor; the key is `chain name ‖ 0x00 ‖ cursor name`.
#[derive(Debug)]
pub struct LogCursors;

impl Table for LogCursors {
    const NAME: &'static str = "evm_log_cursors";
    type Key = Vec<u8>;
    type Value = Json<Cursor>;
}

fn cursor_key(chain: &str, cursor: &str) -> Vec<u8> {
    [chain.as_bytes(), &[0], cursor.as_bytes()].concat()
}

/// How a [`LogPoller`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollerOptions {
    /// Where a cursor that was never persisted starts.
    pub start_block: u64,
    /// Most blocks handed out in one [`LogBatch`] (the chain may split its requests
    /// further). At least 1.
    pub max_range: u64,
    /// How many consumed block hashes are kept to find the last common block after a
    /// reorg. A reorg deeper than this is still detected but rewinds to the oldest kept
    /// block. At least 1.
    pub window: usize,
}

impl Default for PollerOptions {
    fn default() -> Self {
        Self {
            start_block: 0,
            max_range: 1000,
            window: 128,
        }
    }
}

/// Logs of a block range, handed out by [`LogPoller::poll`]. The cursor moves past them
/// only when the caller hands the batch back to [`LogPoller::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBatch {
    /// First block of the range.
    pub from_block: u64,
    /// Last block of the range (inclusive).
    pub to_block: u64,
    /// Hash of `to_block` when it was read.
    pub to_hash: B256,
    /// The filter's logs in the range, by block then log index.
    pub logs: Vec<Log>,
}

/// A reorg the poller found: blocks it had consumed are no longer canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reorg {
    /// The newest consumed block that is still canonical; `None` when no kept hash is
    /// (a reorg deeper than the window).
    pub last_common: Option<u64>,
    /// The cursor's new next block: logs the caller took from this block on are void and
    /// will be handed out again from the new canonical chain.
    pub rewound_to: u64,
    /// The consumed blocks that were replaced: (height, hash the poller had seen).
    pub replaced: Vec<(u64, B256)>,
}

/// What one [`LogPoller::poll`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollEvent {
    /// New final logs (possibly none) for a range: process them, then
    /// [`LogPoller::commit`] the batch.
    Logs(LogBatch),
    /// Consumed blocks were reorged away; the cursor is rewound (and persisted).
    Reorg(Reorg),
    /// Nothing new is final yet (or the chain moved while reading: poll again).
    Idle,
}

/// What [`LogPoller::check_reorg`] found.
enum Check {
    /// The newest consumed block is still canonical.
    Canonical,
    /// The endpoint does not know a consumed block: it is behind; poll again later.
    Behind,
    /// Consumed blocks were replaced; the cursor is rewound.
    Reorg(Reorg),
}

/// Why a poll or a commit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollerError {
    /// Reading the chain failed; poll again later ([`ChainError::class`]).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Reading or writing the cursor failed.
    #[error("log cursor: {0}")]
    Storage(#[from] StorageError),
    /// A batch handed to [`LogPoller::commit`] does not start at the cursor (it was
    /// committed already, or a reorg rewound the cursor since it was read).
    #[error("batch {from}..={to} does not start at the cursor's next block {next}")]
    StaleBatch {
        /// The batch's first block.
        from: u64,
        /// Its last block.
        to: u64,
        /// The cursor's next block.
        next: u64,
    },
}

/// Reads the logs a filter selects, in order, only up to the chain's finality rule, and
/// notices when blocks it consumed are reorged away.
///
/// Plain logic for the node's chain watchers: a watcher calls [`LogPoller::poll`] on a
/// timer, handles [`PollEvent::Logs`] (storing what it derives) and then calls
/// [`LogPoller::commit`], which persists the cursor. A restart reopens the cursor and
/// resumes at the first block not committed: a batch handed out but not committed is read
/// again, none is skipped.
///
/// Reorgs: each poll first checks the newest consumed block against the chain (by the
/// final head's parent hash when the head is the next block, by hash otherwise). An
/// endpoint that does not know that block (it is behind) is not a reorg: the poll answers
/// [`PollEvent::Idle`] and the cursor stays. On a different hash it walks back through the kept hashes to the newest one still canonical,
/// rewinds the cursor to the block after it, persists it, logs a warning, counts
/// `manyfold_chain_reorgs_total{chain,cursor}` and returns [`PollEvent::Reorg`]. Reading
/// only up to the finality rule should make this rare; it catches chains that reorg deeper
/// than their rule promised.
pub struct LogPoller {
    chain: Arc<dyn ChainReader>,
    storage: Arc<dyn Storage>,
    chain_name: String,
    cursor_name: String,
    key: Vec<u8>,
    filter: LogFilter,
    finality: Finality,
    options: PollerOptions,
    cursor: Cursor,
}

impl std::fmt::Debug for LogPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogPoller")
            .field("chain", &self.chain_name)
            .field("cursor", &self.cursor_name)
            .field("next_block", &self.cursor.next_block)
            .field("finality", &self.finality)
            .finish_non_exhaustive()
    }
}

impl LogPoller {
    /// A poller of `filter`'s addresses and topics (its block range is ignored) on chain
    /// `chain_name`, under cursor `cursor_name`: resumes the persisted cursor, or starts at
    /// `options.start_block`.
    pub fn open(
        storage: Arc<dyn Storage>,
        chain: Arc<dyn ChainReader>,
        chain_name: impl Into<String>,
        cursor_name: impl Into<String>,
        filter: LogFilter,
        finality: Finality,
        options: PollerOptions,
    ) -> Result<Self, PollerError> {
        let chain_name = chain_name.into();
        let cursor_name = cursor_name.into();
        let key = cursor_key(&chain_name, &cursor_name);
        let cursor = storage
            .get::<LogCursors>(&key)?
            .map(|j| j.0)
            .unwrap_or(Cursor {
                next_block: options.start_block,
                recent: BTreeMap::new(),
            });
        let options = PollerOptions {
            max_range: options.max_range.max(1),
            window: options.window.max(1),
            ..options
        };
        tracing::debug!(
            chain = %chain_name, cursor = %cursor_name, next_block = cursor.next_block,
            "log poller opened"
        );
        Ok(Self {
            chain,
            storage,
            chain_name,
            cursor_name,
            key,
            filter,
            finality,
            options,
            cursor,
        })
    }

    /// The cursor as it stands (committed).
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Checks for a reorg, then reads the next range of final blocks.
    ///
    /// A batch is handed out only when the endpoint's answers agree: the range's first
    /// block follows the newest consumed one, its last block has the same hash before and
    /// after the logs are read, and every log lies in the range and names the canonical
    /// hash of its block. Otherwise the poll answers [`PollEvent::Idle`] and the same range
    /// is read again next time: an endpoint behind, or backends of a load balancer at
    /// different heights, delay the poller but neither skip logs nor rewind it.
    pub async fn poll(&mut self) -> Result<PollEvent, PollerError> {
        let head = self.chain.final_head(self.finality).await?;
        match self.check_reorg(head.as_ref()).await? {
            Check::Canonical => {}
            Check::Behind => return Ok(PollEvent::Idle),
            Check::Reorg(reorg) => return Ok(PollEvent::Reorg(reorg)),
        }
        let Some(head) = head else {
            return Ok(PollEvent::Idle);
        };
        let from = self.cursor.next_block;
        // `to` stays below u64::MAX so that the cursor's next block, `to + 1`, exists
        // (heights are the endpoint's word, and may be absurd).
        let to = head
            .number
            .min(from.saturating_add(self.options.max_range - 1))
            .min(u64::MAX - 1);
        if to < from {
            return Ok(PollEvent::Idle);
        }
        let to_ref = if to == head.number {
            head
        } else {
            match self.chain.block(BlockId::Number(to)).await? {
                Some(block) => block,
                None => return self.not_yet(from, to, "the range's last block is unknown"),
            }
        };
        // The range must continue the consumed chain: `from`'s parent is the newest
        // consumed block (when it is kept). A mismatch is for the next poll's reorg check.
        let from_ref = if from == to {
            to_ref
        } else {
            match self.chain.block(BlockId::Number(from)).await? {
                Some(block) => block,
                None => return self.not_yet(from, to, "the range's first block is unknown"),
            }
        };
        let before = from.checked_sub(1).and_then(|p| self.cursor.recent.get(&p));
        if before.is_some_and(|hash| *hash != from_ref.parent_hash) {
            return self.not_yet(
                from,
                to,
                "the range's first block does not follow the cursor",
            );
        }
        let mut filter = self.filter.clone();
        filter.from_block = from;
        filter.to_block = to;
        let logs = self.chain.logs(filter).await?;
        // The logs must come from the chain `to_ref` ends: read `to` again (an endpoint
        // that answered the logs without having the range, then still has no block `to`,
        // or another one, shows here), and check each log's block hash.
        let still = self.chain.block(BlockId::Number(to)).await?;
        if still.map(|b| b.hash) != Some(to_ref.hash) {
            return self.not_yet(from, to, "the range's last block changed while reading");
        }
        let mut canonical = BTreeMap::from([(from, from_ref.hash), (to, to_ref.hash)]);
        for log in &logs {
            let number = log.block_number;
            if number < from || number > to {
                tracing::warn!(
                    chain = %self.chain_name, cursor = %self.cursor_name, from, to,
                    log_block = number,
                    "the endpoint answered a log outside the range asked; reading again"
                );
                return Ok(PollEvent::Idle);
            }
            // One read per block that has logs and is not an end of the range.
            let hash = match canonical.get(&number) {
                Some(hash) => *hash,
                None => match self.hash_at(number).await? {
                    Some(hash) => *canonical.entry(number).or_insert(hash),
                    None => return self.not_yet(from, to, "a log's block is unknown"),
                },
            };
            if log.block_hash != hash {
                return self.not_yet(from, to, "a log names another block than the canonical one");
            }
        }
        Ok(PollEvent::Logs(LogBatch {
            from_block: from,
            to_block: to,
            to_hash: to_ref.hash,
            logs,
        }))
    }

    /// Why a range is not handed out yet (debug: it happens whenever backends disagree for
    /// a moment); the caller polls again later.
    fn not_yet(&self, from: u64, to: u64, why: &'static str) -> Result<PollEvent, PollerError> {
        tracing::debug!(
            chain = %self.chain_name, cursor = %self.cursor_name, from, to, why,
            "the endpoint's answers disagree; reading the range again later"
        );
        Ok(PollEvent::Idle)
    }

    /// Moves the cursor past `batch` and persists it. Call it once the batch's logs are
    /// handled (stored); a crash before then hands them out again.
    pub fn commit(&mut self, batch: &LogBatch) -> Result<(), PollerError> {
        if batch.from_block != self.cursor.next_block || batch.to_block < batch.from_block {
            return Err(PollerError::StaleBatch {
                from: batch.from_block,
                to: batch.to_block,
                next: self.cursor.next_block,
            });
        }
        let mut cursor = self.cursor.clone();
        for log in &batch.logs {
            cursor.recent.insert(log.block_number, log.block_hash);
        }
        cursor.recent.insert(batch.to_block, batch.to_hash);
        while cursor.recent.len() > self.options.window {
            cursor.recent.pop_first();
        }
        // `poll` never hands out a batch ending at u64::MAX; a hand-made one saturates.
        cursor.next_block = batch.to_block.saturating_add(1);
        self.persist(cursor)
    }

    fn persist(&mut self, cursor: Cursor) -> Result<(), PollerError> {
        let mut batch = WriteBatch::new();
        batch.put::<LogCursors>(&self.key, &Json(cursor.clone()));
        self.storage.commit(batch)?;
        metrics::gauge!(
            "manyfold_chain_log_cursor",
            "chain" => self.chain_name.clone(), "cursor" => self.cursor_name.clone()
        )
        .set(cursor.next_block as f64);
        self.cursor = cursor;
        Ok(())
    }

    /// Whether the newest consumed block is still canonical; if another block replaced it,
    /// rewinds.
    ///
    /// Only a *different* hash at a consumed height is a reorg. An endpoint that does not
    /// know a consumed block (`None`: it is behind, or a load balancer sent the request to
    /// a backend that is) proves nothing: [`Check::Behind`], and the cursor stays.
    async fn check_reorg(&mut self, head: Option<&BlockRef>) -> Result<Check, PollerError> {
        let Some((&last, &seen)) = self.cursor.recent.last_key_value() else {
            return Ok(Check::Canonical);
        };
        let canonical = match head {
            Some(h) if last.checked_add(1) == Some(h.number) => h.parent_hash == seen,
            Some(h) if h.number == last => h.hash == seen,
            _ => match self.hash_at(last).await? {
                Some(hash) => hash == seen,
                None => return Ok(self.behind(last)),
            },
        };
        if canonical {
            return Ok(Check::Canonical);
        }
        let mut replaced = Vec::new();
        let mut last_common = None;
        for (&number, &hash) in self.cursor.recent.iter().rev() {
            match self.hash_at(number).await? {
                Some(now) if now == hash => {
                    last_common = Some(number);
                    break;
                }
                Some(_) => replaced.push((number, hash)),
                // Where the reorg ends is unknown while the endpoint misses a block below
                // one it has: find it on a later poll, rewind nothing now.
                None => return Ok(self.behind(number)),
            }
        }
        let mut cursor = self.cursor.clone();
        let rewound_to = match last_common {
            Some(common) => {
                cursor.recent.retain(|n, _| *n <= common);
                // A kept height is below every cursor's next block, so this does not
                // saturate in practice.
                common.saturating_add(1)
            }
            None => {
                let oldest = *cursor.recent.keys().next().expect("not empty");
                cursor.recent.clear();
                oldest
            }
        };
        cursor.next_block = rewound_to;
        metrics::counter!(
            "manyfold_chain_reorgs_total",
            "chain" => self.chain_name.clone(), "cursor" => self.cursor_name.clone()
        )
        .increment(1);
        if last_common.is_none() {
            tracing::error!(
                chain = %self.chain_name, cursor = %self.cursor_name, rewound_to,
                replaced = replaced.len(),
                "reorg deeper than the kept block hashes; rewinding to the oldest kept block"
            );
        } else {
            tracing::warn!(
                chain = %self.chain_name, cursor = %self.cursor_name, ?last_common,
                rewound_to, replaced = replaced.len(), finality = %self.finality,
                "consumed blocks were reorged away; rewinding the log cursor"
            );
        }
        self.persist(cursor)?;
        Ok(Check::Reorg(Reorg {
            last_common,
            rewound_to,
            replaced,
        }))
    }

    fn behind(&self, number: u64) -> Check {
        tracing::debug!(
            chain = %self.chain_name, cursor = %self.cursor_name, block = number,
            "the endpoint does not know a consumed block (behind?); waiting"
        );
        Check::Behind
    }

    async fn hash_at(&self, number: u64) -> Result<Option<B256>, ChainError> {
        Ok(self
            .chain
            .block(BlockId::Number(number))
            .await?
            .map(|b| b.hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Address;
    use manyfold_chain::testing::MockChain;
    use manyfold_storage::MemoryStorage;

    const EMITTER: Address = Address::repeat_byte(0xee);

    struct Setup {
        mock: MockChain,
        storage: Arc<dyn Storage>,
    }

    impl Setup {
        fn new() -> Self {
            Self {
                mock: MockChain::new(7),
                storage: Arc::new(MemoryStorage::new()),
            }
        }

        /// Mines `n` blocks, each with one log whose data is its height.
        fn mine_with_logs(&self, n: u64) {
            for _ in 0..n {
                let next = self.mock.latest().number + 1;
                self.mock
                    .emit_log(EMITTER, vec![B256::ZERO], vec![next as u8]);
                self.mock.mine();
            }
        }

        fn poller(&self, cursor: &str, finality: Finality, options: PollerOptions) -> LogPoller {
            LogPoller::open(
                self.storage.clone(),
                Arc::new(self.mock.clone()),
                "mock",
                cursor,
                LogFilter::default().address(EMITTER),
                finality,
                options,
            )
            .unwrap()
        }
    }

    async fn take(poller: &mut LogPoller) -> LogBatch {
        match poller.poll().await.unwrap() {
            PollEvent::Logs(batch) => {
                poller.commit(&batch).unwrap();
                batch
            }
            other => panic!("logs expected, got {other:?}"),
        }
    }

    fn heights(batch: &LogBatch) -> Vec<u8> {
        batch.logs.iter().map(|l| l.data[0]).collect()
    }

    #[tokio::test]
    async fn batches_stop_at_the_finality_rule_and_the_range_bound() {
        let s = Setup::new();
        s.mine_with_logs(10);
        let options = PollerOptions {
            start_block: 1,
            max_range: 4,
            window: 8,
        };
        let mut poller = s.poller("c", Finality::Blocks(3), options);
        let b = take(&mut poller).await;
        assert_eq!((b.from_block, b.to_block), (1, 4));
        assert_eq!(heights(&b), [1, 2, 3, 4]);
        let b = take(&mut poller).await;
        assert_eq!((b.from_block, b.to_block), (5, 7), "latest 10 minus 3");
        assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
        assert!(poller.cursor().recent.len() <= 8);

        // Another cursor of the same chain is independent; this one resumes.
        let other = s.poller("d", Finality::Blocks(3), options);
        assert_eq!(other.cursor().next_block, 1);
        let again = s.poller("c", Finality::Blocks(3), options);
        assert_eq!(again.cursor(), poller.cursor());
    }

    #[tokio::test]
    async fn a_new_head_whose_parent_is_not_the_consumed_block_is_a_reorg() {
        let s = Setup::new();
        s.mine_with_logs(5);
        let mut poller = s.poller("c", Finality::Blocks(0), PollerOptions::default());
        take(&mut poller).await;
        assert_eq!(poller.cursor().next_block, 6);
        s.mock.reorg(2);
        s.mock.mine(); // head 6: the next block, on another block 5
        let PollEvent::Reorg(reorg) = poller.poll().await.unwrap() else {
            panic!("a reorg expected");
        };
        assert_eq!(reorg.last_common, Some(3));
        assert_eq!(reorg.rewound_to, 4);
        assert_eq!(reorg.replaced.len(), 2);
        let b = take(&mut poller).await;
        assert_eq!((b.from_block, b.to_block), (4, 6));
        assert!(b.logs.is_empty(), "the new blocks have no logs");
        assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
    }

    #[tokio::test]
    async fn a_reorg_deeper_than_the_window_is_still_caught() {
        let s = Setup::new();
        let options = PollerOptions {
            start_block: 0,
            max_range: 1,
            window: 2,
        };
        let mut poller = s.poller("c", Finality::Blocks(0), options);
        s.mine_with_logs(6);
        for _ in 0..7 {
            take(&mut poller).await;
        }
        assert_eq!(
            poller.cursor().recent.keys().copied().collect::<Vec<_>>(),
            [5, 6]
        );
        s.mock.reorg(4);
        let PollEvent::Reorg(reorg) = poller.poll().await.unwrap() else {
            panic!("a reorg expected");
        };
        assert_eq!(reorg.last_common, None);
        assert_eq!(reorg.rewound_to, 5, "the oldest kept block");
        assert!(poller.cursor().recent.is_empty());
    }

    /// What a load-balanced endpoint does with backends at different heights: reads go to
    /// the mock, except what the knobs change.
    #[derive(Clone, Default)]
    struct Knobs {
        /// `block(Number(n))` answers `None` from this height on (a backend behind).
        unknown_from: Option<u64>,
        /// `logs` answers `[]` (a backend that does not have the range yet), and the
        /// reads after it go to that backend: `unknown_from` becomes this height.
        empty_logs_behind_from: Option<u64>,
        /// `logs` answers these instead of the mock's.
        logs: Option<Vec<Log>>,
    }

    struct Lb {
        mock: MockChain,
        knobs: std::sync::Mutex<Knobs>,
    }

    impl Lb {
        fn set(&self, f: impl FnOnce(&mut Knobs)) {
            f(&mut self.knobs.lock().unwrap());
        }
    }

    impl ChainReader for Lb {
        fn chain_id(&self) -> manyfold_chain::ChainFuture<'_, u64> {
            self.mock.chain_id()
        }
        fn block(&self, id: BlockId) -> manyfold_chain::ChainFuture<'_, Option<BlockRef>> {
            let knobs = self.knobs.lock().unwrap().clone();
            Box::pin(async move {
                match (id, knobs.unknown_from) {
                    (BlockId::Number(n), Some(from)) if n >= from => Ok(None),
                    _ => self.mock.block(id).await,
                }
            })
        }
        fn logs(&self, filter: LogFilter) -> manyfold_chain::ChainFuture<'_, Vec<Log>> {
            let knobs = self.knobs.lock().unwrap().clone();
            Box::pin(async move {
                if let Some(height) = knobs.empty_logs_behind_from {
                    self.set(|k| k.unknown_from = Some(height));
                    return Ok(Vec::new());
                }
                match knobs.logs {
                    Some(logs) => Ok(logs),
                    None => self.mock.logs(filter).await,
                }
            })
        }
        fn call(
            &self,
            call: manyfold_chain::CallRequest,
            at: BlockId,
        ) -> manyfold_chain::ChainFuture<'_, alloy_primitives::Bytes> {
            self.mock.call(call, at)
        }
        fn receipt(
            &self,
            tx: B256,
        ) -> manyfold_chain::ChainFuture<'_, Option<manyfold_chain::Receipt>> {
            self.mock.receipt(tx)
        }
        fn nonce(&self, account: Address, at: BlockId) -> manyfold_chain::ChainFuture<'_, u64> {
            self.mock.nonce(account, at)
        }
        fn balance(
            &self,
            account: Address,
            at: BlockId,
        ) -> manyfold_chain::ChainFuture<'_, alloy_primitives::U256> {
            self.mock.balance(account, at)
        }
    }

    fn behind(s: &Setup, options: PollerOptions) -> (Arc<Lb>, LogPoller) {
        let lb = Arc::new(Lb {
            mock: s.mock.clone(),
            knobs: Default::default(),
        });
        let poller = LogPoller::open(
            s.storage.clone(),
            lb.clone(),
            "mock",
            "lb",
            LogFilter::default().address(EMITTER),
            Finality::Blocks(0),
            options,
        )
        .unwrap();
        (lb, poller)
    }

    #[tokio::test]
    async fn empty_logs_from_a_backend_without_the_range_are_not_handed_out() {
        let s = Setup::new();
        s.mine_with_logs(6);
        let (lb, mut poller) = behind(&s, PollerOptions::default());
        // The head comes from a backend at 6; the logs, and the reads after them, from one
        // at 3.
        lb.set(|k| k.empty_logs_behind_from = Some(4));
        assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
        assert_eq!(poller.cursor().next_block, 0);
        lb.set(|k| *k = Knobs::default());
        let b = take(&mut poller).await;
        assert_eq!(heights(&b), [1, 2, 3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn logs_from_another_fork_than_the_canonical_blocks_are_not_handed_out() {
        let s = Setup::new();
        s.mine_with_logs(6);
        let (lb, mut poller) = behind(&s, PollerOptions::default());
        // A backend on a stale fork: the right heights, other block hashes, except at the
        // range's end.
        let mut stale = s
            .mock
            .logs(LogFilter::range(0, 6).address(EMITTER))
            .await
            .unwrap();
        for log in stale.iter_mut().filter(|l| l.block_number < 6) {
            log.block_hash = B256::repeat_byte(0xab);
        }
        lb.set(|k| k.logs = Some(stale));
        assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
        // Logs outside the asked range: a lying endpoint.
        let mut outside = s
            .mock
            .logs(LogFilter::range(0, 6).address(EMITTER))
            .await
            .unwrap();
        outside[0].block_number = 7;
        lb.set(|k| k.logs = Some(outside));
        assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
        assert_eq!(poller.cursor().next_block, 0);
        lb.set(|k| *k = Knobs::default());
        assert_eq!(heights(&take(&mut poller).await), [1, 2, 3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn an_endpoint_behind_the_consumed_blocks_is_idle_not_a_reorg() {
        let s = Setup::new();
        s.mine_with_logs(6);
        let (lb, mut poller) = behind(&s, PollerOptions::default());
        take(&mut poller).await;
        let cursor = poller.cursor().clone();
        assert_eq!(cursor.next_block, 7);
        // A backend that has blocks up to 4 only: the head went backwards.
        lb.set(|k| k.unknown_from = Some(5));
        for _ in 0..2 {
            assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
        }
        assert_eq!(poller.cursor(), &cursor, "nothing rewound");
        lb.set(|k| *k = Knobs::default());
        s.mine_with_logs(1);
        assert_eq!(heights(&take(&mut poller).await), [7]);
    }

    #[tokio::test]
    async fn a_cursor_at_the_end_of_the_numbers_does_not_overflow() {
        let s = Setup::new();
        s.mine_with_logs(2);
        let mut poller = s.poller("c", Finality::Blocks(0), PollerOptions::default());
        // A hand-made batch ending at the last number: the cursor saturates.
        poller.cursor.next_block = u64::MAX;
        let batch = LogBatch {
            from_block: u64::MAX,
            to_block: u64::MAX,
            to_hash: B256::ZERO,
            logs: Vec::new(),
        };
        poller.commit(&batch).unwrap();
        // The newest consumed block is u64::MAX: its successor does not exist.
        assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
    }

    #[tokio::test]
    async fn a_stale_batch_is_refused() {
        let s = Setup::new();
        s.mine_with_logs(3);
        let mut poller = s.poller("c", Finality::Blocks(0), PollerOptions::default());
        let PollEvent::Logs(batch) = poller.poll().await.unwrap() else {
            panic!()
        };
        poller.commit(&batch).unwrap();
        assert!(matches!(
            poller.commit(&batch),
            Err(PollerError::StaleBatch {
                from: 0,
                to: 3,
                next: 4
            })
        ));
    }
}
