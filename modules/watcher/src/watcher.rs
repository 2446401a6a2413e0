//! [`PriorityWatcher`]: a settlement contract's `PriorityRequestAdded` events, as the
//! node's priority ops, in serial order, exactly once.

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use alloy_sol_types::SolEvent;
use manyfold_chain::{ChainReader, Finality, Log, LogFilter};
use manyfold_contracts::bindings::Secondary::PriorityRequestAdded;
use manyfold_storage::{
    Codec, CodecError, Json, Storage, StorageError, StorageExt, Table, WriteBatch,
};
use manyfold_types::{AccountId, Amount, ChainId, Deposit, FullExit, PriorityOp, TokenId};
use serde::{Deserialize, Serialize};

use crate::poller::{LogBatch, LogPoller, PollEvent, PollerError, PollerOptions, Reorg};

/// The name of the watcher's [`LogPoller`] cursor (its key in
/// [`crate::LogCursors`] is `chain name ‖ 0 ‖ PRIORITY_CURSOR`).
pub const PRIORITY_CURSOR: &str = "priority_requests";

/// `opType` of a deposit in the contracts (`Operations.DEPOSIT`).
const OP_DEPOSIT: u8 = 1;
/// `opType` of a full exit in the contracts (`Operations.FULL_EXIT`).
const OP_FULL_EXIT: u8 = 4;

/// How a [`PriorityWatcher`] watches one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherConfig {
    /// The chain's name in the node's config: labels logs and metrics, keys the stored
    /// state.
    pub chain_name: String,
    /// The chain's rollup id, written into every op.
    pub rollup_chain: ChainId,
    /// The settlement contract (Primary or Secondary: both emit the same event).
    pub contract: Address,
    /// Which blocks count as final: nothing above it is read.
    pub finality: Finality,
    /// The poller's options; `start_block` should be the contract's deployment block.
    pub poller: PollerOptions,
    /// The serial id expected first when no state is stored (0 for a watcher that starts
    /// at the deployment block).
    pub first_serial: u64,
    /// How many handed-out ops are kept to compare re-reads with (after a reorg or a crash
    /// before commit). At least 1.
    pub remember: u64,
}

impl WatcherConfig {
    /// A watcher of `contract` on chain `chain_name` (rollup id `rollup_chain`), reading up
    /// to `finality` from block 0, expecting serial id 0 first.
    pub fn new(
        chain_name: impl Into<String>,
        rollup_chain: ChainId,
        contract: Address,
        finality: Finality,
    ) -> Self {
        Self {
            chain_name: chain_name.into(),
            rollup_chain,
            contract,
            finality,
            poller: PollerOptions::default(),
            first_serial: 0,
            remember: 100_000,
        }
    }
}

/// Why a watcher stopped. Persisted: a stopped watcher stays stopped across restarts
/// until an operator removes its [`WatcherStates`] entry's stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Stop {
    /// A serial id skipped ahead: requests in between were never seen (an endpoint that
    /// drops logs, a wrong start block or contract). Handing out later ops would let the
    /// mempool wait forever or the chain's queue check fail.
    #[error("priority serial id gap: expected {expected}, got {got} (block {block}, tx {tx})")]
    Gap {
        /// The next serial id expected.
        expected: u64,
        /// The one the chain reported.
        got: u64,
        /// Block of the log.
        block: u64,
        /// Transaction of the log.
        tx: B256,
    },
    /// A serial id already handed out came back as a different request (a reorg deeper
    /// than the finality rule replaced it): the op handed out may already be in a block.
    #[error(
        "priority request {serial_id} changed after it was handed out: was {handed:?}, now {now:?}"
    )]
    Conflict {
        /// The serial id.
        serial_id: u64,
        /// What was handed out.
        handed: PriorityOp,
        /// What the chain says now.
        now: PriorityOp,
    },
    /// A log of the contract's event that does not decode into an op (bindings and
    /// contract disagree, or the endpoint lies).
    #[error("undecodable priority request at block {block}, log {log_index}: {reason}")]
    Malformed {
        /// Block of the log.
        block: u64,
        /// Its index in the block.
        log_index: u64,
        /// What was wrong.
        reason: String,
    },
}

/// Why a poll or a commit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatcherError {
    /// The watcher is stopped (now or by an earlier run); every poll answers this until an
    /// operator intervenes. Fatal for this chain's watcher.
    #[error("chain {chain}: watcher stopped: {stop}")]
    Stopped {
        /// The chain's name.
        chain: String,
        /// Why (boxed: a conflict carries two ops, and errors travel by value).
        stop: Box<Stop>,
    },
    /// Reading the chain or the cursor failed, or a stale batch was committed; poll again.
    #[error(transparent)]
    Poller(#[from] PollerError),
    /// Reading or writing the watcher's state failed.
    #[error("watcher state: {0}")]
    Storage(#[from] StorageError),
}

/// Why a log is not a priority request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The log is not a `PriorityRequestAdded` event.
    #[error("not a PriorityRequestAdded event: {0}")]
    Abi(String),
    /// An `opType` that is not a priority op.
    #[error("unknown priority op type {0}")]
    OpType(u8),
    /// A token or account id out of the L2's range.
    #[error("{0}")]
    Id(String),
}

/// The op of a `PriorityRequestAdded` log of the settlement contract of rollup chain
/// `chain`. The event's amount is already in L2 units (18 decimals; the contract scales
/// the local amount), so it is taken as is.
pub fn decode_priority_request(log: &Log, chain: ChainId) -> Result<PriorityOp, DecodeError> {
    let event = PriorityRequestAdded::decode_raw_log(log.topics.iter().copied(), &log.data)
        .map_err(|e| DecodeError::Abi(e.to_string()))?;
    let token = TokenId::new(event.token).map_err(|e| DecodeError::Id(e.to_string()))?;
    match event.opType {
        OP_DEPOSIT => Ok(PriorityOp::Deposit(Deposit {
            chain,
            serial_id: event.serialId,
            address: event.owner,
            token,
            amount: Amount(event.amount),
        })),
        OP_FULL_EXIT => Ok(PriorityOp::FullExit(FullExit {
            chain,
            serial_id: event.serialId,
            account: AccountId::new(event.account).map_err(|e| DecodeError::Id(e.to_string()))?,
            address: event.owner,
            token,
        })),
        other => Err(DecodeError::OpType(other)),
    }
}

/// A watcher's durable state, in table [`WatcherStates`] under its chain name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatcherState {
    /// The serial id the next handed-out op must have. Advanced only by
    /// [`PriorityWatcher::commit`].
    pub next_serial: u64,
    /// Set when the watcher stopped.
    pub stop: Option<Stop>,
}

/// The table of every watcher's [`WatcherState`]; the key is the chain name.
#[derive(Debug)]
pub struct WatcherStates;

impl Table for WatcherStates {
    const NAME: &'static str = "watcher_states";
    type Key = Vec<u8>;
    type Value = Json<WatcherState>;
}

/// A committed op, kept to compare re-reads of its serial id with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedOutOp(pub PriorityOp);

impl Codec for HandedOutOp {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("an op serialises")
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        serde_json::from_slice(bytes)
            .map(HandedOutOp)
            .map_err(|e| CodecError::Invalid(e.to_string()))
    }
}

/// The table of the last [`WatcherConfig::remember`] committed ops of every watcher; the
/// key is `chain name ‖ 0 ‖ serial id (8 bytes, big-endian)`.
#[derive(Debug)]
pub struct HandedOut;

impl Table for HandedOut {
    const NAME: &'static str = "watcher_handed_out";
    type Key = Vec<u8>;
    type Value = HandedOutOp;
}

fn handed_key(chain: &str, serial_id: u64) -> Vec<u8> {
    [chain.as_bytes(), &[0], &serial_id.to_be_bytes()].concat()
}

/// New priority ops of a block range, from [`PriorityWatcher::poll`]: submit `ops`, then
/// hand the batch to [`PriorityWatcher::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityBatch {
    /// The ops, in serial order without gaps, starting at the watcher's next serial id.
    pub ops: Vec<PriorityOp>,
    /// Logs of serial ids already handed out, identical to what was handed out, skipped.
    pub duplicates: u64,
    /// The serial id expected after these ops.
    pub next_serial: u64,
    /// The poller's batch they came from.
    pub logs: LogBatch,
}

/// What one [`PriorityWatcher::poll`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatcherEvent {
    /// A final block range was read (its ops may be none): submit, then commit.
    Ops(PriorityBatch),
    /// Consumed blocks were reorged away; the poller rewound. Ops already handed out stay
    /// handed out: their re-reads are checked against them.
    Reorg(Reorg),
    /// Nothing new is final yet.
    Idle,
}

/// Turns one settlement contract's priority requests into priority ops, in serial order,
/// each once. See the crate docs and the README.
///
/// Crash safety: [`PriorityWatcher::commit`] stores the watcher's next serial id and the
/// committed ops first, then the poller's cursor. A crash before the first write hands the
/// batch out again (the mempool refuses what it already holds as
/// `DuplicatePriority`); a crash between the two re-reads the batch, whose ops are then
/// duplicates of what was committed, and skipped.
pub struct PriorityWatcher {
    poller: LogPoller,
    storage: Arc<dyn Storage>,
    config: WatcherConfig,
    state: WatcherState,
}

impl std::fmt::Debug for PriorityWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorityWatcher")
            .field("chain", &self.config.chain_name)
            .field("rollup_chain", &self.config.rollup_chain)
            .field("state", &self.state)
            .field("poller", &self.poller)
            .finish_non_exhaustive()
    }
}

impl PriorityWatcher {
    /// The watcher of `config.contract` on `chain`, resuming its stored state and cursor.
    /// A watcher stored as stopped opens (so that an actor can report it) but every poll
    /// fails with [`WatcherError::Stopped`].
    pub fn open(
        storage: Arc<dyn Storage>,
        chain: Arc<dyn ChainReader>,
        config: WatcherConfig,
    ) -> Result<Self, WatcherError> {
        let config = WatcherConfig {
            remember: config.remember.max(1),
            ..config
        };
        let filter = LogFilter::default()
            .address(config.contract)
            .topic(0, PriorityRequestAdded::SIGNATURE_HASH);
        let poller = LogPoller::open(
            storage.clone(),
            chain,
            config.chain_name.clone(),
            PRIORITY_CURSOR,
            filter,
            config.finality,
            config.poller,
        )?;
        let state = storage
            .get::<WatcherStates>(&config.chain_name.as_bytes().to_vec())?
            .map(|j| j.0)
            .unwrap_or(WatcherState {
                next_serial: config.first_serial,
                stop: None,
            });
        let watcher = Self {
            poller,
            storage,
            config,
            state,
        };
        watcher.report();
        if let Some(stop) = &watcher.state.stop {
            tracing::error!(
                chain = %watcher.config.chain_name, %stop,
                "priority watcher opened stopped; it hands out nothing until an operator intervenes"
            );
        }
        Ok(watcher)
    }

    /// The watcher's configuration.
    pub fn config(&self) -> &WatcherConfig {
        &self.config
    }

    /// The serial id the next handed-out op will have (committed state).
    pub fn next_serial(&self) -> u64 {
        self.state.next_serial
    }

    /// Why the watcher stopped, if it did.
    pub fn stopped(&self) -> Option<&Stop> {
        self.state.stop.as_ref()
    }

    /// The poller underneath (its cursor, for status reports).
    pub fn poller(&self) -> &LogPoller {
        &self.poller
    }

    fn stopped_error(&self, stop: Stop) -> WatcherError {
        WatcherError::Stopped {
            chain: self.config.chain_name.clone(),
            stop: Box::new(stop),
        }
    }

    /// Reads the next final block range and checks its requests' serial ids.
    ///
    /// Nothing is stored except on a stop (persisted before the error is returned) or a
    /// reorg (the poller's rewound cursor): polling twice without a commit hands the same
    /// ops out twice, so submit before committing and commit each batch once.
    pub async fn poll(&mut self) -> Result<WatcherEvent, WatcherError> {
        if let Some(stop) = &self.state.stop {
            return Err(self.stopped_error(stop.clone()));
        }
        let batch = match self.poller.poll().await? {
            PollEvent::Idle => return Ok(WatcherEvent::Idle),
            PollEvent::Reorg(reorg) => {
                tracing::warn!(
                    chain = %self.config.chain_name, rewound_to = reorg.rewound_to,
                    next_serial = self.state.next_serial,
                    "reorg below the finality rule; re-read requests are checked against those handed out"
                );
                return Ok(WatcherEvent::Reorg(reorg));
            }
            PollEvent::Logs(batch) => batch,
        };
        let mut ops: Vec<PriorityOp> = Vec::new();
        let mut duplicates = 0;
        let mut expected = self.state.next_serial;
        for log in &batch.logs {
            // The poller does not filter what the endpoint answers; a log of another
            // emitter or event is the endpoint's lie, not a request.
            let op = if log.address != self.config.contract {
                Err(DecodeError::Abi(format!("emitted by {}", log.address)))
            } else {
                decode_priority_request(log, self.config.rollup_chain)
            };
            let op = match op {
                Ok(op) => op,
                Err(e) => {
                    return Err(self.stop(Stop::Malformed {
                        block: log.block_number,
                        log_index: log.log_index,
                        reason: e.to_string(),
                    })?)
                }
            };
            let serial_id = op.reference().serial_id;
            if serial_id == expected {
                ops.push(op);
                // The contract's counter is a uint64 that reverts before wrapping.
                expected = expected.saturating_add(1);
                continue;
            }
            if serial_id > expected {
                return Err(self.stop(Stop::Gap {
                    expected,
                    got: serial_id,
                    block: log.block_number,
                    tx: log.tx_hash,
                })?);
            }
            let earlier = if serial_id >= self.state.next_serial {
                // Handed out earlier in this very batch.
                ops.iter()
                    .find(|o| o.reference().serial_id == serial_id)
                    .copied()
            } else {
                self.storage
                    .get::<HandedOut>(&handed_key(&self.config.chain_name, serial_id))?
                    .map(|h| h.0)
            };
            match earlier {
                Some(handed) if handed != op => {
                    return Err(self.stop(Stop::Conflict {
                        serial_id,
                        handed,
                        now: op,
                    })?)
                }
                Some(_) => {}
                None => tracing::warn!(
                    chain = %self.config.chain_name, serial_id,
                    "a re-read priority request older than the remembered ones; skipped unchecked"
                ),
            }
            tracing::debug!(chain = %self.config.chain_name, serial_id, "duplicate priority request skipped");
            duplicates += 1;
        }
        Ok(WatcherEvent::Ops(PriorityBatch {
            ops,
            duplicates,
            next_serial: expected,
            logs: batch,
        }))
    }

    /// Persists `stop`, logs it at error level and returns the error to report. A failed
    /// write is returned instead (the stop is still kept in memory).
    fn stop(&mut self, stop: Stop) -> Result<WatcherError, WatcherError> {
        tracing::error!(
            chain = %self.config.chain_name, rollup_chain = %self.config.rollup_chain, %stop,
            "priority watcher stopped"
        );
        self.state.stop = Some(stop.clone());
        self.report();
        let mut batch = WriteBatch::new();
        batch.put::<WatcherStates>(
            &self.config.chain_name.as_bytes().to_vec(),
            &Json(self.state.clone()),
        );
        self.storage.commit(batch)?;
        Ok(self.stopped_error(stop))
    }

    /// Records that `batch`'s ops were submitted: stores the next serial id and the ops,
    /// then moves the poller's cursor past the batch.
    pub fn commit(&mut self, batch: &PriorityBatch) -> Result<(), WatcherError> {
        if let Some(stop) = &self.state.stop {
            return Err(self.stopped_error(stop.clone()));
        }
        let next_block = self.poller.cursor().next_block;
        let first = batch.ops.first().map(|op| op.reference().serial_id);
        if batch.logs.from_block != next_block || first.is_some_and(|s| s != self.state.next_serial)
        {
            return Err(PollerError::StaleBatch {
                from: batch.logs.from_block,
                to: batch.logs.to_block,
                next: next_block,
            }
            .into());
        }
        let chain = &self.config.chain_name;
        let mut write = WriteBatch::new();
        for op in &batch.ops {
            let serial_id = op.reference().serial_id;
            write.put::<HandedOut>(&handed_key(chain, serial_id), &HandedOutOp(*op));
            if let Some(old) = serial_id.checked_sub(self.config.remember) {
                write.delete::<HandedOut>(&handed_key(chain, old));
            }
        }
        let state = WatcherState {
            next_serial: batch.next_serial,
            stop: None,
        };
        write.put::<WatcherStates>(&chain.as_bytes().to_vec(), &Json(state.clone()));
        // The watcher's state goes first: a crash before the cursor is written re-reads
        // the batch as duplicates. The other order would re-read it as a gap.
        self.storage.commit(write)?;
        self.state = state;
        self.poller.commit(&batch.logs)?;
        metrics::counter!("manyfold_watcher_duplicates_total", "chain" => chain.clone())
            .increment(batch.duplicates);
        metrics::counter!("manyfold_watcher_ops_total", "chain" => chain.clone())
            .increment(batch.ops.len() as u64);
        if !batch.ops.is_empty() {
            tracing::info!(
                chain = %chain, ops = batch.ops.len(), next_serial = batch.next_serial,
                to_block = batch.logs.to_block, "priority requests handed out"
            );
        }
        self.report();
        Ok(())
    }

    fn report(&self) {
        let chain = self.config.chain_name.clone();
        metrics::gauge!("manyfold_watcher_stopped", "chain" => chain.clone())
            .set(if self.state.stop.is_some() { 1.0 } else { 0.0 });
        if let Some(last) = self.state.next_serial.checked_sub(1) {
            metrics::gauge!("manyfold_watcher_last_serial", "chain" => chain).set(last as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_chain::testing::MockChain;
    use manyfold_storage::MemoryStorage;

    const CONTRACT: Address = Address::repeat_byte(0xc0);
    const OWNER: Address = Address::repeat_byte(0x0a);

    fn chain_id() -> ChainId {
        ChainId::new(2).unwrap()
    }

    fn deposit(serial_id: u64, amount: u128) -> PriorityOp {
        PriorityOp::Deposit(Deposit {
            chain: chain_id(),
            serial_id,
            address: OWNER,
            token: TokenId::new(3).unwrap(),
            amount: Amount(amount),
        })
    }

    fn event(serial_id: u64, op_type: u8, amount: u128) -> PriorityRequestAdded {
        PriorityRequestAdded {
            serialId: serial_id,
            opType: op_type,
            owner: OWNER,
            token: 3,
            amount,
            account: 7,
            expiresAt: 1_000,
        }
    }

    struct Setup {
        mock: MockChain,
        storage: Arc<dyn Storage>,
    }

    impl Setup {
        fn new() -> Self {
            Self {
                mock: MockChain::new(5),
                storage: Arc::new(MemoryStorage::new()),
            }
        }

        /// Emits the event in the next mined block.
        fn emit(&self, ev: PriorityRequestAdded) {
            let data = ev.encode_log_data();
            self.mock
                .emit_log(CONTRACT, data.topics().to_vec(), data.data.clone());
        }

        /// Emits a deposit of `serial_id` (amount `serial_id + 1`) and mines it.
        fn deposit(&self, serial_id: u64) {
            self.emit(event(serial_id, OP_DEPOSIT, u128::from(serial_id) + 1));
            self.mock.mine();
        }

        fn watcher(&self, finality: Finality) -> PriorityWatcher {
            PriorityWatcher::open(
                self.storage.clone(),
                Arc::new(self.mock.clone()),
                WatcherConfig::new("mock", chain_id(), CONTRACT, finality),
            )
            .unwrap()
        }
    }

    /// Polls once, expecting a batch, and commits it.
    async fn take(w: &mut PriorityWatcher) -> PriorityBatch {
        let batch = poll_ops(w).await;
        w.commit(&batch).unwrap();
        batch
    }

    async fn poll_ops(w: &mut PriorityWatcher) -> PriorityBatch {
        match w.poll().await.unwrap() {
            WatcherEvent::Ops(batch) => batch,
            other => panic!("ops expected, got {other:?}"),
        }
    }

    fn stop_of(r: Result<WatcherEvent, WatcherError>) -> Stop {
        match r {
            Err(WatcherError::Stopped { chain, stop }) => {
                assert_eq!(chain, "mock");
                *stop
            }
            other => panic!("a stop expected, got {other:?}"),
        }
    }

    fn serials(batch: &PriorityBatch) -> Vec<u64> {
        batch.ops.iter().map(|o| o.reference().serial_id).collect()
    }

    #[tokio::test]
    async fn in_order_requests_are_handed_out_as_ops_of_the_rollup_chain() {
        let s = Setup::new();
        s.deposit(0);
        s.emit(event(1, OP_FULL_EXIT, 0));
        s.emit(event(2, OP_DEPOSIT, 3));
        s.mock.mine();
        let mut w = s.watcher(Finality::Blocks(0));
        let batch = take(&mut w).await;
        assert_eq!(
            batch.ops,
            [
                deposit(0, 1),
                PriorityOp::FullExit(FullExit {
                    chain: chain_id(),
                    serial_id: 1,
                    account: AccountId::new(7).unwrap(),
                    address: OWNER,
                    token: TokenId::new(3).unwrap(),
                }),
                deposit(2, 3),
            ]
        );
        assert_eq!((batch.next_serial, batch.duplicates), (3, 0));
        assert_eq!(w.next_serial(), 3);
        s.deposit(3);
        assert_eq!(serials(&take(&mut w).await), [3]);
        assert!(matches!(w.poll().await.unwrap(), WatcherEvent::Idle));
    }

    #[tokio::test]
    async fn a_duplicate_is_skipped_and_counted() {
        let s = Setup::new();
        s.deposit(0);
        s.deposit(1);
        // The same request again (an endpoint or a contract bug repeating it).
        s.emit(event(1, OP_DEPOSIT, 2));
        s.emit(event(2, OP_DEPOSIT, 3));
        s.mock.mine();
        let mut w = s.watcher(Finality::Blocks(0));
        let batch = take(&mut w).await;
        assert_eq!(serials(&batch), [0, 1, 2]);
        assert_eq!(batch.duplicates, 1);
        // Repeated in a later batch: compared with the stored op, skipped.
        s.emit(event(0, OP_DEPOSIT, 1));
        s.mock.mine();
        let batch = take(&mut w).await;
        assert!(batch.ops.is_empty());
        assert_eq!(batch.duplicates, 1);
        assert_eq!(w.next_serial(), 3);
    }

    #[tokio::test]
    async fn a_gap_stops_the_watcher_for_good() {
        let s = Setup::new();
        s.deposit(0);
        s.deposit(2);
        let mut w = s.watcher(Finality::Blocks(0));
        let expect_gap = |r: Result<WatcherEvent, WatcherError>| match stop_of(r) {
            Stop::Gap {
                expected: 1,
                got: 2,
                ..
            } => {}
            other => panic!("a gap expected, got {other:?}"),
        };
        expect_gap(w.poll().await);
        // Nothing was handed out, not even serial 0 before the gap.
        assert_eq!(w.next_serial(), 0);
        s.deposit(1);
        expect_gap(w.poll().await);
        assert!(w.stopped().is_some());
        drop(w);
        let mut w = s.watcher(Finality::Blocks(0));
        assert!(w.stopped().is_some(), "the stop is persisted");
        expect_gap(w.poll().await);
    }

    #[tokio::test]
    async fn a_committed_batch_is_not_handed_out_again_after_reopening() {
        let s = Setup::new();
        s.deposit(0);
        s.deposit(1);
        let mut w = s.watcher(Finality::Blocks(0));
        assert_eq!(serials(&take(&mut w).await), [0, 1]);
        drop(w);
        let mut w = s.watcher(Finality::Blocks(0));
        assert_eq!(w.next_serial(), 2);
        assert!(matches!(w.poll().await.unwrap(), WatcherEvent::Idle));
        s.deposit(2);
        assert_eq!(serials(&take(&mut w).await), [2]);
    }

    #[tokio::test]
    async fn an_uncommitted_batch_is_handed_out_again_after_reopening() {
        let s = Setup::new();
        s.deposit(0);
        let mut w = s.watcher(Finality::Blocks(0));
        let first = poll_ops(&mut w).await;
        assert_eq!(serials(&first), [0]);
        drop(w); // a crash before commit
        let mut w = s.watcher(Finality::Blocks(0));
        let again = take(&mut w).await;
        assert_eq!(again.ops, first.ops);
        // A batch committed already is stale.
        assert!(matches!(
            w.commit(&first),
            Err(WatcherError::Poller(PollerError::StaleBatch { .. }))
        ));
    }

    #[tokio::test]
    async fn a_crash_between_the_state_and_the_cursor_rereads_duplicates() {
        let s = Setup::new();
        s.deposit(0);
        s.deposit(1);
        let mut w = s.watcher(Finality::Blocks(0));
        let batch = poll_ops(&mut w).await;
        // What commit writes first, without the cursor.
        let mut write = WriteBatch::new();
        for op in &batch.ops {
            let serial = op.reference().serial_id;
            write.put::<HandedOut>(&handed_key("mock", serial), &HandedOutOp(*op));
        }
        write.put::<WatcherStates>(
            &b"mock".to_vec(),
            &Json(WatcherState {
                next_serial: 2,
                stop: None,
            }),
        );
        s.storage.commit(write).unwrap();
        drop(w);
        let mut w = s.watcher(Finality::Blocks(0));
        let again = take(&mut w).await;
        assert!(again.ops.is_empty());
        assert_eq!(again.duplicates, 2);
        assert!(w.stopped().is_none());
    }

    #[tokio::test]
    async fn nothing_above_the_final_head_is_read() {
        let s = Setup::new();
        s.deposit(0);
        s.mock.mine_n(2);
        s.deposit(1); // block 4; the final head is latest - 3 = 1
        let mut w = s.watcher(Finality::Blocks(3));
        let batch = take(&mut w).await;
        assert_eq!(serials(&batch), [0]);
        assert_eq!(batch.logs.to_block, 1);
        assert!(matches!(w.poll().await.unwrap(), WatcherEvent::Idle));
        s.mock.mine_n(2);
        assert!(serials(&take(&mut w).await).is_empty(), "blocks 2..=3");
        s.mock.mine();
        assert_eq!(serials(&take(&mut w).await), [1]);

        // The chain's own finalized tag too.
        let s = Setup::new();
        s.mock.set_depths(0, 2);
        s.deposit(0);
        s.deposit(1);
        let mut w = s.watcher(Finality::Finalized);
        assert!(
            serials(&take(&mut w).await).is_empty(),
            "the genesis block only"
        );
        assert!(matches!(w.poll().await.unwrap(), WatcherEvent::Idle));
        s.mock.mine();
        assert_eq!(serials(&take(&mut w).await), [0]);
    }

    #[tokio::test]
    async fn a_reorg_rereading_the_same_requests_hands_out_nothing_twice() {
        let s = Setup::new();
        s.deposit(0);
        let mut w = s.watcher(Finality::Blocks(0));
        assert_eq!(serials(&take(&mut w).await), [0]);
        // Block 1 is replaced by one holding the same request and the next one.
        s.mock.reorg(1);
        s.emit(event(0, OP_DEPOSIT, 1));
        s.emit(event(1, OP_DEPOSIT, 2));
        s.mock.mine();
        assert!(matches!(w.poll().await.unwrap(), WatcherEvent::Reorg(_)));
        let batch = take(&mut w).await;
        assert_eq!(serials(&batch), [1]);
        assert_eq!(batch.duplicates, 1);
    }

    #[tokio::test]
    async fn a_reorg_replacing_a_handed_out_request_stops_the_watcher() {
        let s = Setup::new();
        s.deposit(0);
        let mut w = s.watcher(Finality::Blocks(0));
        assert_eq!(serials(&take(&mut w).await), [0]);
        s.mock.reorg(1);
        s.emit(event(0, OP_DEPOSIT, 999));
        s.mock.mine();
        assert!(matches!(w.poll().await.unwrap(), WatcherEvent::Reorg(_)));
        let stop = stop_of(w.poll().await);
        assert!(
            matches!(stop, Stop::Conflict { serial_id: 0, .. }),
            "{stop}"
        );
        assert_eq!(w.next_serial(), 1);
    }

    #[tokio::test]
    async fn an_undecodable_log_stops_the_watcher() {
        let s = Setup::new();
        s.emit(event(0, 9, 1)); // no such op type
        s.mock.mine();
        let mut w = s.watcher(Finality::Blocks(0));
        assert!(matches!(stop_of(w.poll().await), Stop::Malformed { .. }));
    }

    #[test]
    fn both_contracts_emit_the_same_event() {
        use manyfold_contracts::bindings::Primary;
        assert_eq!(
            Primary::PriorityRequestAdded::SIGNATURE_HASH,
            PriorityRequestAdded::SIGNATURE_HASH
        );
    }
}
