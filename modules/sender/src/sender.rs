//! The durable sender: plain logic over the storage and chain traits, driven by `tick`.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use manyfold_chain::{
    BlockId, BlockTag, CallRequest, Chain, ChainError, FeeEstimate, Receipt, TxStatus,
};
use manyfold_storage::{Storage, WriteBatch};

use crate::config::SenderConfig;
use crate::error::{Result, SenderError};
use crate::fees::{initial_fees, replacement_fees, FeeCaps, Fees};
use crate::metrics::Metrics;
use crate::signer::TxSigner;
use crate::store::{
    Attempt, Confirmation, Inclusion, SenderMeta, SenderStore, StopKind, StopReason, StoredTx,
    TxState,
};

/// A transaction to send, before it has a nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTx {
    /// What it is (`"commit"`, `"prove"`, ...): logs, metrics, and the stop reason name it.
    pub label: String,
    /// The callee; `None` creates a contract whose init code is `calldata`.
    pub to: Option<Address>,
    /// The calldata (for a creation: the init code, constructor arguments appended).
    pub calldata: Bytes,
    /// Wei sent along.
    pub value: U256,
    /// The gas limit; `None` to estimate it at the first signing (the config's policy).
    /// A creation must name one: the chain interface estimates calls of a callee only.
    pub gas_limit: Option<u64>,
}

impl NewTx {
    /// A call of `to` with `calldata`, no value, gas estimated.
    pub fn call(label: impl Into<String>, to: Address, calldata: impl Into<Bytes>) -> Self {
        Self {
            label: label.into(),
            to: Some(to),
            calldata: calldata.into(),
            value: U256::ZERO,
            gas_limit: None,
        }
    }

    /// A contract creation running `init_code` with at most `gas_limit` gas. The contract's
    /// address follows from the sender and the request's nonce (its [`TxId`]).
    pub fn create(label: impl Into<String>, init_code: impl Into<Bytes>, gas_limit: u64) -> Self {
        Self {
            label: label.into(),
            to: None,
            calldata: init_code.into(),
            value: U256::ZERO,
            gas_limit: Some(gas_limit),
        }
    }

    /// The same, sending `value` wei along.
    pub fn with_value(mut self, value: U256) -> Self {
        self.value = value;
        self
    }

    /// The same, with a fixed gas limit.
    pub fn with_gas_limit(mut self, gas_limit: u64) -> Self {
        self.gas_limit = Some(gas_limit);
        self
    }
}

/// A request's id: its nonce, fixed when it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId(pub u64);

impl TxId {
    /// The nonce.
    pub fn nonce(self) -> u64 {
        self.0
    }
}

/// The sender's nonce at the chain's three heads, as one tick read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceHeads {
    /// Height of the latest block.
    pub block: u64,
    /// Transactions the sender has in blocks up to `latest`.
    pub latest: u64,
    /// ... up to `safe` (never more than `latest`).
    pub safe: u64,
    /// ... up to `finalized` (never more than `safe`).
    pub finalized: u64,
}

impl NonceHeads {
    /// How deep the transaction with `nonce` is; `None` while no head includes it.
    pub fn confirmation(&self, nonce: u64) -> Option<Confirmation> {
        if nonce < self.finalized {
            Some(Confirmation::Finalized)
        } else if nonce < self.safe {
            Some(Confirmation::Safe)
        } else if nonce < self.latest {
            Some(Confirmation::Mined)
        } else {
            None
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderEvent {
    /// A first attempt was signed, stored and handed to the chain.
    Sent {
        /// Its nonce.
        nonce: u64,
        /// Its hash.
        tx: B256,
    },
    /// A stored attempt the chain may not have was broadcast again (after a restart, a
    /// failed send, or when the chain forgot it).
    Rebroadcast {
        /// Its nonce.
        nonce: u64,
        /// Its hash.
        tx: B256,
    },
    /// The first unmined transaction was replaced at its nonce with higher fees.
    Replaced {
        /// Its nonce.
        nonce: u64,
        /// The new attempt's hash.
        tx: B256,
        /// The new attempt's fees.
        fees: Fees,
    },
    /// The first unmined transaction is due for replacement, but the smallest valid bump
    /// is above the fee caps: it waits at its current fees.
    StuckAtCap {
        /// Its nonce.
        nonce: u64,
        /// The fees a replacement would need.
        required: Fees,
    },
    /// A transaction reached a deeper confirmation.
    Confirmed {
        /// Its nonce.
        nonce: u64,
        /// The attempt that landed.
        tx: B256,
        /// How deep it now is.
        confirmation: Confirmation,
        /// Its block.
        block_number: u64,
    },
    /// A mined transaction is no longer in the canonical chain; it is watched (and
    /// broadcast) again.
    Reorged {
        /// Its nonce.
        nonce: u64,
        /// The attempt that had landed.
        tx: B256,
    },
}

/// What a tick did, and the chain error that cut its sending short, if one did.
#[derive(Debug, Default)]
pub struct TickReport {
    /// What happened, in order. A convenience: [`DurableSender::request`] is the truth.
    pub events: Vec<SenderEvent>,
    /// A chain error met while broadcasting, replacing or sending (after the confirmations
    /// were recorded): the stored work is retried on the next tick.
    pub deferred: Option<ChainError>,
}

/// One request with its attempts, as the sender knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    /// The stored request and its state.
    pub tx: StoredTx,
    /// Its signed attempts, oldest first.
    pub attempts: Vec<Attempt>,
    /// It is due for replacement and the caps forbid a valid bump.
    pub stuck_at_cap: bool,
}

/// A summary for operators and for the actor's health reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderStatus {
    /// The chain's name.
    pub chain: String,
    /// The sending account.
    pub sender: Address,
    /// The nonce the next request gets.
    pub next_nonce: u64,
    /// Requests stored and not yet signed.
    pub queued: usize,
    /// Requests signed and not yet mined.
    pub in_flight: usize,
    /// Requests not yet final (those above included).
    pub unfinalized: usize,
    /// The nonce of the transaction waiting at the fee caps, if one is.
    pub stuck_at_cap: Option<u64>,
    /// Why the sender is stopped, if it is.
    pub stopped: Option<StopReason>,
    /// The nonces the last tick read.
    pub heads: Option<NonceHeads>,
}

#[derive(Debug)]
struct Entry {
    tx: StoredTx,
    attempts: Vec<Attempt>,
    /// The chain may not hold the latest attempt: broadcast it (again) on the next tick.
    needs_broadcast: bool,
    stuck_at_cap: bool,
    /// Consecutive ticks that found its nonce final and no receipt of ours: a lagging or
    /// load-balanced endpoint can miss a receipt once, so one look is not enough to give
    /// the request up (and stop the pipeline).
    missing_receipt_checks: u32,
    /// Consecutive refusals of it (its gas estimate reverted with nothing ahead unmined),
    /// each at a higher head than the one before or `refusal_spacing_ms` after it:
    /// several answers at one moment, or from backends behind it, are one refusal.
    refusals: u32,
    /// The head and the time of the last refusal counted.
    refused_at: Option<(u64, std::time::Instant)>,
}

impl Entry {
    fn new(tx: StoredTx) -> Self {
        Self {
            tx,
            attempts: Vec::new(),
            needs_broadcast: false,
            stuck_at_cap: false,
            missing_receipt_checks: 0,
            refusals: 0,
            refused_at: None,
        }
    }

    /// Signed, not known to be mined, not given up.
    fn in_flight(&self) -> bool {
        !self.attempts.is_empty() && self.tx.state == TxState::Unconfirmed
    }

    fn queued(&self) -> bool {
        self.attempts.is_empty() && self.tx.state == TxState::Unconfirmed
    }
}

/// Consecutive ticks that must find a request's nonce final without any receipt of its
/// attempts before the request counts as lost (its nonce used by another transaction).
const LOST_AFTER_CHECKS: u32 = 3;

/// The durable sender of one (chain, sender key): see the crate documentation.
///
/// Plain logic: an actor owns it and calls [`DurableSender::tick`] on a timer or on new
/// blocks; the settler calls [`DurableSender::enqueue`].
pub struct DurableSender {
    config: SenderConfig,
    chain: Arc<dyn Chain>,
    signer: Arc<dyn TxSigner>,
    store: SenderStore,
    meta: SenderMeta,
    /// Every request not yet final (or final and terminal), by nonce.
    entries: BTreeMap<u64, Entry>,
    next_nonce: u64,
    heads: Option<NonceHeads>,
    metrics: Metrics,
}

impl std::fmt::Debug for DurableSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableSender")
            .field("chain", &self.config.chain)
            .field("sender", &self.config.sender)
            .field("next_nonce", &self.next_nonce)
            .field("unfinalized", &self.entries.len())
            .field("stopped", &self.meta.stopped)
            .finish_non_exhaustive()
    }
}

impl DurableSender {
    /// Opens the sender over its rows in `storage`, creating nothing until the first
    /// request. Checks the configuration, that `signer` signs for the configured sender and
    /// that `chain` is the configured chain; loads every request not yet final with its
    /// attempts (each unmined one is broadcast again on the first tick: the chain may have
    /// lost it while the node was down); reads the sender's nonce at `latest`, so that the
    /// next request's nonce is `max(last stored + 1, that nonce)`.
    pub async fn open(
        storage: Arc<dyn Storage>,
        chain: Arc<dyn Chain>,
        signer: Arc<dyn TxSigner>,
        config: SenderConfig,
    ) -> Result<Self> {
        config.validate()?;
        if signer.address() != config.sender {
            return Err(SenderError::WrongSigner {
                expected: config.sender,
                actual: signer.address(),
            });
        }
        let actual = chain.chain_id().await?;
        if actual != config.chain_id {
            return Err(SenderError::WrongChain {
                expected: config.chain_id,
                actual,
            });
        }
        let store = SenderStore::new(storage, config.chain_id, config.sender);
        let meta = store.meta()?;
        let mut entries: BTreeMap<u64, Entry> = store
            .requests_from(meta.final_below)?
            .into_iter()
            .map(|tx| (tx.nonce, Entry::new(tx)))
            .collect();
        for (nonce, attempt) in store.attempts_from(meta.final_below)? {
            if let Some(entry) = entries.get_mut(&nonce) {
                entry.attempts.push(attempt);
            }
        }
        for entry in entries.values_mut() {
            entry.needs_broadcast = entry.in_flight();
        }
        let stored_next = store.last_request()?.map_or(0, |tx| tx.nonce + 1);
        let chain_nonce = chain
            .nonce(config.sender, BlockId::Tag(BlockTag::Latest))
            .await?;
        let next_nonce = stored_next.max(chain_nonce).max(meta.final_below);
        let metrics = Metrics::new(&config.chain, config.sender);
        metrics.stopped(meta.stopped.is_some());
        if let Some(reason) = &meta.stopped {
            tracing::error!(
                chain = %config.chain, sender = %config.sender, %reason,
                "durable sender opened stopped; an operator must clear it"
            );
        }
        tracing::info!(
            chain = %config.chain, sender = %config.sender, next_nonce, chain_nonce,
            unfinalized = entries.len(), "durable sender opened"
        );
        let sender = Self {
            config,
            chain,
            signer,
            store,
            meta,
            entries,
            next_nonce,
            heads: None,
            metrics,
        };
        sender.report_gauges();
        Ok(sender)
    }

    /// Stores a request with the next nonce, in one durable commit, and returns its id.
    /// Nothing is signed here: the next [`DurableSender::tick`] signs it, in nonce order.
    /// Refused while the sender is stopped, and when a fixed gas limit is above the
    /// policy's maximum.
    pub fn enqueue(&mut self, request: NewTx) -> Result<TxId> {
        self.enqueue_with(request, |_| WriteBatch::new())
    }

    /// [`DurableSender::enqueue`], committing the rows `rows(id)` returns in the same
    /// durable write as the request: a caller that records "this action is request `id`"
    /// there can never, after a crash, find the request without its record or the record
    /// without its request, so it never asks twice. The rows must be for the sender's own
    /// storage.
    pub fn enqueue_with(
        &mut self,
        request: NewTx,
        rows: impl FnOnce(TxId) -> WriteBatch,
    ) -> Result<TxId> {
        self.ensure_running()?;
        if request.to.is_none() && request.gas_limit.is_none() {
            return Err(SenderError::InvalidRequest(format!(
                "contract creation `{}` names no gas limit",
                request.label
            )));
        }
        if let Some(gas) = request.gas_limit {
            if gas > self.config.gas.max_gas_limit {
                return Err(SenderError::InvalidRequest(format!(
                    "gas limit {gas} is above the maximum {}",
                    self.config.gas.max_gas_limit
                )));
            }
        }
        let nonce = self.next_nonce;
        // Checked before anything is stored: an endpoint that reported an absurd nonce must
        // not make the next request wrap around onto nonce 0's row.
        let next_nonce = nonce.checked_add(1).ok_or_else(|| {
            SenderError::InvalidRequest("the sender's nonce space is exhausted".into())
        })?;
        let tx = StoredTx {
            nonce,
            label: request.label,
            to: request.to,
            calldata: request.calldata,
            value: request.value,
            gas_limit: request.gas_limit,
            state: TxState::Unconfirmed,
            dropped: false,
        };
        let mut batch = rows(TxId(nonce));
        self.store.put_request(&mut batch, &tx);
        self.store.commit(batch)?;
        tracing::debug!(chain = %self.config.chain, nonce, label = %tx.label, "request stored");
        self.entries.insert(nonce, Entry::new(tx));
        self.next_nonce = next_nonce;
        self.metrics.enqueued();
        self.report_gauges();
        Ok(TxId(nonce))
    }

    /// One step: reads the sender's nonce at `latest`, `safe` and `finalized`; records
    /// each request's confirmation (finding the receipt of the attempt that landed, and
    /// stopping on a revert); broadcasts again what the chain may have lost; replaces the
    /// first unmined transaction once it has waited long enough; signs, stores and
    /// broadcasts the next requests in nonce order while fewer than `max_in_flight` are
    /// unmined.
    ///
    /// An error reading the heads or the confirmations returns before anything is sent;
    /// a chain error while sending is in [`TickReport::deferred`].
    pub async fn tick(&mut self) -> Result<TickReport> {
        self.ensure_running()?;
        let mut report = TickReport::default();
        let heads = self.read_heads().await?;
        self.heads = Some(heads);
        self.reconcile(&heads, &mut report).await?;
        let pushed = self.push(&heads, &mut report).await;
        self.report_gauges();
        match pushed {
            Ok(()) => Ok(report),
            Err(SenderError::Chain(e)) => {
                report.deferred = Some(e);
                Ok(report)
            }
            Err(e) => Err(e),
        }
    }

    /// Clears a stop, as an operator does once they have looked at the cause; returns
    /// what it cleared. The request that stopped the sender stays reverted (or lost): it is
    /// never sent again, and the requests after it go on.
    pub fn clear_stop(&mut self) -> Result<Option<StopReason>> {
        let Some(reason) = self.store.clear_stop()? else {
            return Ok(None);
        };
        self.meta.stopped = None;
        // A refused request is tried afresh: its count starts again.
        for entry in self.entries.values_mut() {
            entry.refusals = 0;
            entry.refused_at = None;
        }
        self.metrics.stopped(false);
        tracing::warn!(chain = %self.config.chain, %reason, "an operator cleared the sender's stop");
        Ok(Some(reason))
    }

    /// Why the sender is stopped, if it is.
    pub fn stopped(&self) -> Option<&StopReason> {
        self.meta.stopped.as_ref()
    }

    /// The request with id `id` and its attempts (from memory, or from the store once
    /// final).
    pub fn request(&self, id: TxId) -> Result<Option<RequestView>> {
        if let Some(entry) = self.entries.get(&id.0) {
            return Ok(Some(RequestView {
                tx: entry.tx.clone(),
                attempts: entry.attempts.clone(),
                stuck_at_cap: entry.stuck_at_cap,
            }));
        }
        let Some(tx) = self.store.request(id.0)? else {
            return Ok(None);
        };
        Ok(Some(RequestView {
            tx,
            attempts: self.store.attempts(id.0)?,
            stuck_at_cap: false,
        }))
    }

    /// A summary of where the sender stands.
    pub fn status(&self) -> SenderStatus {
        SenderStatus {
            chain: self.config.chain.clone(),
            sender: self.config.sender,
            next_nonce: self.next_nonce,
            queued: self.entries.values().filter(|e| e.queued()).count(),
            in_flight: self.in_flight(),
            unfinalized: self
                .entries
                .values()
                .filter(|e| !e.tx.state.is_terminal())
                .count(),
            stuck_at_cap: self
                .entries
                .iter()
                .find(|(_, e)| e.stuck_at_cap)
                .map(|(n, _)| *n),
            stopped: self.meta.stopped.clone(),
            heads: self.heads,
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// Its rows in the store, for inspection.
    pub fn store(&self) -> &SenderStore {
        &self.store
    }

    fn ensure_running(&self) -> Result<()> {
        match &self.meta.stopped {
            Some(reason) => Err(SenderError::Stopped(reason.clone())),
            None => Ok(()),
        }
    }

    fn in_flight(&self) -> usize {
        self.entries.values().filter(|e| e.in_flight()).count()
    }

    fn report_gauges(&self) {
        let queued = self.entries.values().filter(|e| e.queued()).count();
        self.metrics.pending(queued, self.in_flight());
        self.metrics
            .stuck_at_cap(self.entries.values().any(|e| e.stuck_at_cap));
    }

    fn caps(&self) -> FeeCaps {
        FeeCaps {
            max_fee_per_gas: self.config.max_fee_per_gas,
            max_priority_fee_per_gas: self.config.max_priority_fee_per_gas,
        }
    }

    async fn read_heads(&self) -> Result<NonceHeads> {
        let sender = self.config.sender;
        let head = self.chain.head(BlockTag::Latest).await?;
        // The latest nonce at the very block read, so that a block arriving between the
        // reads cannot make `latest` look older than `safe`.
        let latest = self
            .chain
            .nonce(sender, BlockId::Number(head.number))
            .await?;
        // The chain's finality rule, not its `finalized` tag: a chain configured with
        // "N blocks" may not have a meaningful tag at all.
        let finalized = match self.config.finality.target(head.number) {
            None => 0,
            Some(at) => self.chain.nonce(sender, at).await?,
        }
        .min(latest);
        // What is final is safe too, whatever the chain's `safe` tag says.
        let safe = self
            .chain
            .nonce(sender, BlockId::Tag(BlockTag::Safe))
            .await?
            .min(latest)
            .max(finalized);
        Ok(NonceHeads {
            block: head.number,
            latest,
            safe,
            finalized,
        })
    }

    /// Records where each request stands. Changes are committed in one batch and applied
    /// in memory only once they are durable.
    async fn reconcile(&mut self, heads: &NonceHeads, report: &mut TickReport) -> Result<()> {
        let chain = self.chain.clone();
        let mut changes: Vec<(u64, TxState)> = Vec::new();
        let mut events = Vec::new();
        let mut finalized = Vec::new();
        let mut stop = None;
        let mut missing_receipts = Vec::new();
        for (&nonce, entry) in &self.entries {
            if entry.tx.state.is_terminal() {
                continue;
            }
            let Some(depth) = heads.confirmation(nonce) else {
                if let TxState::Included(inclusion) = &entry.tx.state {
                    tracing::warn!(
                        chain = %self.config.chain, nonce, tx = %inclusion.tx,
                        block = inclusion.block_number,
                        "a mined transaction was reorged out; watching it again"
                    );
                    changes.push((nonce, TxState::Unconfirmed));
                    events.push(SenderEvent::Reorged {
                        nonce,
                        tx: inclusion.tx,
                    });
                }
                continue;
            };
            if matches!(&entry.tx.state, TxState::Included(i) if i.confirmation == depth) {
                continue;
            }
            let Some(receipt) = find_receipt(chain.as_ref(), &entry.attempts).await? else {
                if depth == Confirmation::Finalized {
                    missing_receipts.push(nonce);
                    if entry.missing_receipt_checks + 1 < LOST_AFTER_CHECKS {
                        continue;
                    }
                    changes.push((nonce, TxState::Lost));
                    stop = Some(StopReason {
                        nonce,
                        label: entry.tx.label.clone(),
                        kind: StopKind::NonceUsedElsewhere,
                    });
                    break;
                }
                // The nonce moved but no receipt of ours shows yet (a lagging node): look
                // again on the next tick.
                continue;
            };
            let inclusion = Inclusion {
                confirmation: depth,
                tx: receipt.tx_hash,
                block_number: receipt.block_number,
                block_hash: receipt.block_hash,
                gas_used: receipt.gas_used,
                effective_gas_price: receipt.effective_gas_price,
            };
            if !receipt.success {
                stop = Some(StopReason {
                    nonce,
                    label: entry.tx.label.clone(),
                    kind: StopKind::Reverted {
                        tx: receipt.tx_hash,
                        block_number: receipt.block_number,
                    },
                });
                changes.push((nonce, TxState::Reverted(inclusion)));
                break;
            }
            if depth == Confirmation::Finalized {
                finalized.push((receipt.gas_used, receipt.effective_gas_price));
            }
            events.push(SenderEvent::Confirmed {
                nonce,
                tx: receipt.tx_hash,
                confirmation: depth,
                block_number: receipt.block_number,
            });
            changes.push((nonce, TxState::Included(inclusion)));
        }
        for (nonce, entry) in self.entries.iter_mut() {
            entry.missing_receipt_checks = if missing_receipts.contains(nonce) {
                entry.missing_receipt_checks + 1
            } else {
                0
            };
        }

        let mut batch = WriteBatch::new();
        for (nonce, state) in &changes {
            let mut tx = self.entries[nonce].tx.clone();
            tx.state = state.clone();
            self.store.put_request(&mut batch, &tx);
        }
        let mut meta = self.meta.clone();
        meta.stopped.clone_from(&stop);
        // Every request below the cursor is done: final, or terminal with a final nonce.
        let done = |nonce: u64, state: &TxState| match state {
            TxState::Included(i) => i.confirmation == Confirmation::Finalized,
            TxState::Reverted(_) | TxState::Lost => nonce < heads.finalized,
            TxState::Unconfirmed => false,
        };
        for (&nonce, entry) in &self.entries {
            let state = changes
                .iter()
                .find(|(n, _)| *n == nonce)
                .map_or(&entry.tx.state, |(_, s)| s);
            if !done(nonce, state) {
                break;
            }
            meta.final_below = nonce + 1;
        }
        if meta != self.meta {
            self.store.put_meta(&mut batch, &meta);
        }
        if !batch.is_empty() {
            self.store.commit(batch)?;
        }

        for (nonce, state) in changes {
            let entry = self.entries.get_mut(&nonce).expect("changed entries exist");
            if state == TxState::Unconfirmed {
                // Back in the pool, or lost with the reorged block: send it again.
                entry.needs_broadcast = true;
                self.metrics.reorged();
            } else {
                entry.needs_broadcast = false;
                entry.stuck_at_cap = false;
            }
            entry.tx.state = state;
        }
        for (gas_used, price) in finalized {
            self.metrics.finalized(gas_used, price);
        }
        while self
            .entries
            .first_key_value()
            .is_some_and(|(&n, _)| n < meta.final_below)
        {
            self.entries.pop_first();
        }
        self.meta = meta;
        report.events.extend(events);
        if let Some(reason) = stop {
            self.metrics.stopped(true);
            tracing::error!(
                chain = %self.config.chain, sender = %self.config.sender, %reason,
                "settlement pipeline stopped; nothing more is sent until an operator clears it"
            );
            return Err(SenderError::Stopped(reason));
        }
        Ok(())
    }

    /// Counts one more refusal of the request at `nonce` (its estimate reverted with
    /// nothing ahead unmined). Returns the error the tick ends with: the revert, retried
    /// next tick, until `refusals_before_stop` in a row, each at a new head or
    /// `refusal_spacing_ms` after the one before, stop the sender (persisted, loud).
    fn refused(
        &mut self,
        nonce: u64,
        reason: Option<String>,
        data: alloy_primitives::Bytes,
    ) -> Result<SenderError> {
        let head = self.heads.map_or(0, |h| h.block);
        let entry = self.entries.get_mut(&nonce).expect("the request is queued");
        let spacing = std::time::Duration::from_millis(self.config.refusal_spacing_ms);
        if entry
            .refused_at
            .is_none_or(|(at, when)| head > at || when.elapsed() >= spacing)
        {
            entry.refusals += 1;
            entry.refused_at = Some((head, std::time::Instant::now()));
        }
        if entry.refusals < self.config.refusals_before_stop {
            return Ok(SenderError::Chain(ChainError::Reverted {
                tx: None,
                reason,
                data,
            }));
        }
        // Kept in the stored stop: at most what a custom error's selector and a few
        // arguments take, whatever an endpoint answered.
        let data = alloy_primitives::Bytes::copy_from_slice(&data[..data.len().min(1_024)]);
        let reason = reason.map(|r| r.chars().take(512).collect());
        let stop = StopReason {
            nonce,
            label: entry.tx.label.clone(),
            kind: StopKind::Refused { reason, data },
        };
        let meta = SenderMeta {
            stopped: Some(stop.clone()),
            ..self.meta.clone()
        };
        let mut batch = WriteBatch::new();
        self.store.put_meta(&mut batch, &meta);
        self.store.commit(batch)?;
        self.meta = meta;
        self.metrics.stopped(true);
        tracing::error!(
            chain = %self.config.chain, sender = %self.config.sender, reason = %stop,
            "settlement pipeline stopped; nothing more is sent until an operator clears it"
        );
        Ok(SenderError::Stopped(stop))
    }

    /// Rebroadcasts, replaces, sends.
    async fn push(&mut self, heads: &NonceHeads, report: &mut TickReport) -> Result<()> {
        let chain = self.chain.clone();
        let unmined: Vec<u64> = self
            .entries
            .iter()
            .filter(|(&n, e)| e.in_flight() && n >= heads.latest)
            .map(|(&n, _)| n)
            .collect();

        for &nonce in &unmined {
            let entry = &self.entries[&nonce];
            let last = entry.attempts.last().expect("in flight means signed");
            let resend = entry.needs_broadcast
                || matches!(
                    chain.tx_status(last.hash).await?,
                    TxStatus::Unknown | TxStatus::Dropped
                );
            if resend {
                let tx = last.hash;
                self.broadcast(nonce).await?;
                report.events.push(SenderEvent::Rebroadcast { nonce, tx });
            }
        }

        let mut estimate: Option<FeeEstimate> = None;
        if let Some(&nonce) = unmined.first() {
            let last = self.entries[&nonce]
                .attempts
                .last()
                .expect("in flight means signed")
                .clone();
            // Saturating: a lying endpoint's absurd head must not wrap or panic here.
            if heads.block
                >= last
                    .signed_at_block
                    .saturating_add(self.config.blocks_before_replacement)
            {
                let fees = *estimate.insert(chain.estimate_fees().await?);
                match replacement_fees(&last.fees, &fees, &self.caps(), self.config.bump_percent) {
                    Ok(fees) => {
                        let tx = self
                            .sign_and_store(nonce, fees, last.gas_limit, heads.block)
                            .await?;
                        self.metrics.attempt(true);
                        tracing::info!(
                            chain = %self.config.chain, nonce, %tx, replaces = %last.hash,
                            max_fee = fees.max_fee_per_gas, tip = fees.max_priority_fee_per_gas,
                            "replacing the first unmined transaction"
                        );
                        report
                            .events
                            .push(SenderEvent::Replaced { nonce, tx, fees });
                        self.broadcast(nonce).await?;
                    }
                    Err(stuck) => {
                        let entry = self.entries.get_mut(&nonce).expect("unmined exists");
                        if !entry.stuck_at_cap {
                            tracing::warn!(
                                chain = %self.config.chain, nonce, tx = %last.hash,
                                needed_max_fee = stuck.required.max_fee_per_gas,
                                needed_tip = stuck.required.max_priority_fee_per_gas,
                                cap_max_fee = self.config.max_fee_per_gas,
                                cap_tip = self.config.max_priority_fee_per_gas,
                                "stuck at the fee cap: no valid replacement; waiting"
                            );
                            report.events.push(SenderEvent::StuckAtCap {
                                nonce,
                                required: stuck.required,
                            });
                        }
                        entry.stuck_at_cap = true;
                    }
                }
            }
        }

        while self.in_flight() < self.config.max_in_flight {
            let Some((&nonce, entry)) = self.entries.iter().find(|(_, e)| e.queued()) else {
                break;
            };
            if nonce < heads.latest {
                // Never signed, yet the chain's nonce is past it: another signer used this
                // key. It waits for finality, where the sender stops on it.
                tracing::warn!(
                    chain = %self.config.chain, nonce, chain_nonce = heads.latest,
                    "the chain's nonce is past an unsent request: is another signer using this key?"
                );
                break;
            }
            let gas_limit = match entry.tx.gas_limit {
                Some(gas) => gas,
                None => {
                    // Only a creation stored by another version could lack both.
                    let Some(to) = entry.tx.to else {
                        return Err(SenderError::InvalidRequest(format!(
                            "stored creation {nonce} names no gas limit"
                        )));
                    };
                    let call = CallRequest {
                        from: Some(self.config.sender),
                        to,
                        input: entry.tx.calldata.clone(),
                        value: entry.tx.value,
                        gas: None,
                    };
                    let nothing_ahead = self.in_flight() == 0;
                    let estimate = match chain.estimate_gas(call).await {
                        Ok(estimate) => estimate,
                        Err(ChainError::Reverted { reason, data, .. }) if nothing_ahead => {
                            return Err(self.refused(nonce, reason, data)?);
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let entry = self.entries.get_mut(&nonce).expect("the request is queued");
                    entry.refusals = 0;
                    entry.refused_at = None;
                    // Capped below what it needs, it could only run out of gas on chain
                    // (and stop the pipeline): it waits, loudly, for a higher cap.
                    if estimate > self.config.gas.max_gas_limit {
                        return Err(SenderError::InvalidRequest(format!(
                            "`{}` (nonce {nonce}) needs {estimate} gas, above the maximum gas limit {}: raise it",
                            entry.tx.label, self.config.gas.max_gas_limit
                        )));
                    }
                    self.config.gas.limit_for(estimate)
                }
            };
            let fees = match estimate {
                Some(fees) => fees,
                None => *estimate.insert(chain.estimate_fees().await?),
            };
            let fees = initial_fees(&fees, &self.caps());
            let tx = self
                .sign_and_store(nonce, fees, gas_limit, heads.block)
                .await?;
            self.metrics.attempt(false);
            tracing::info!(
                chain = %self.config.chain, nonce, %tx, label = %self.entries[&nonce].tx.label,
                gas_limit, max_fee = fees.max_fee_per_gas, tip = fees.max_priority_fee_per_gas,
                "sending"
            );
            report.events.push(SenderEvent::Sent { nonce, tx });
            self.broadcast(nonce).await?;
        }
        Ok(())
    }

    /// Signs a new attempt at `nonce` and stores it; it is not broadcast yet.
    async fn sign_and_store(
        &mut self,
        nonce: u64,
        fees: Fees,
        gas_limit: u64,
        block: u64,
    ) -> Result<B256> {
        let entry = self.entries.get_mut(&nonce).expect("signed entries exist");
        let unsigned = TxEip1559 {
            chain_id: self.config.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: entry.tx.to.map_or(TxKind::Create, TxKind::Call),
            value: entry.tx.value,
            access_list: Default::default(),
            input: entry.tx.calldata.clone(),
        };
        let signed = self.signer.sign(&unsigned)?;
        let attempt = Attempt {
            index: u32::try_from(entry.attempts.len()).expect("fewer than 2^32 attempts"),
            hash: signed.hash,
            raw: signed.raw,
            gas_limit,
            fees,
            signed_at_block: block,
        };
        let mut batch = WriteBatch::new();
        self.store.put_attempt(&mut batch, nonce, &attempt);
        self.store.commit(batch)?;
        entry.attempts.push(attempt);
        entry.needs_broadcast = true;
        entry.stuck_at_cap = false;
        Ok(signed.hash)
    }

    /// Hands the latest attempt at `nonce` to the chain. A send error deletes nothing:
    /// "already known" and "nonce too low" may mean the chain has it (or mined it), and the
    /// nonce reads will tell; "underpriced" leaves the replacement to the next bump; any
    /// other error is returned and the attempt is broadcast again on the next tick.
    async fn broadcast(&mut self, nonce: u64) -> Result<()> {
        let entry = self
            .entries
            .get_mut(&nonce)
            .expect("broadcast entries exist");
        let attempt = entry.attempts.last().expect("broadcast attempts exist");
        let answer = self.chain.send_raw(attempt.raw.clone()).await;
        match answer {
            Ok(hash) => {
                if hash != attempt.hash {
                    tracing::warn!(
                        chain = %self.config.chain, nonce, ours = %attempt.hash, theirs = %hash,
                        "the chain reports another hash for the transaction; watching ours"
                    );
                }
                entry.needs_broadcast = false;
                Ok(())
            }
            Err(e @ (ChainError::AlreadyKnown | ChainError::NonceTooLow(_))) => {
                tracing::debug!(
                    chain = %self.config.chain, nonce, tx = %attempt.hash, answer = %e,
                    "the chain may have it already; watching"
                );
                entry.needs_broadcast = false;
                Ok(())
            }
            Err(e @ ChainError::Underpriced(_)) => {
                tracing::warn!(
                    chain = %self.config.chain, nonce, tx = %attempt.hash, error = %e,
                    "the chain refused the fees; the next replacement bumps them"
                );
                entry.needs_broadcast = false;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(
                    chain = %self.config.chain, nonce, tx = %attempt.hash, error = %e,
                    "broadcast failed; the stored attempt is sent again on the next tick"
                );
                entry.needs_broadcast = true;
                Err(e.into())
            }
        }
    }
}

/// The receipt of whichever attempt landed, newest attempt first.
async fn find_receipt(chain: &dyn Chain, attempts: &[Attempt]) -> Result<Option<Receipt>> {
    for attempt in attempts.iter().rev() {
        if let Some(receipt) = chain.receipt(attempt.hash).await? {
            return Ok(Some(receipt));
        }
    }
    Ok(None)
}
