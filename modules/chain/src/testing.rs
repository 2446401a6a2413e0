//! An in-memory chain for tests (feature `test-utils`): heads you advance, logs you emit,
//! sent transactions recorded and mined on demand, errors you inject.
//!
//! Its futures are ready at once, so any executor runs them. The mock never reorgs,
//! mines, or drops anything by itself: the test drives it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};

use crate::config::{ChainSpec, ConfigError, PluginSection};
use crate::error::{ChainError, Result};
use crate::registry::ChainFactory;
use crate::traits::{Chain, ChainFees, ChainFuture, ChainReader, ChainSender};
use crate::types::{
    BlockId, BlockRef, BlockTag, CallRequest, Capabilities, FeeEstimate, Log, LogFilter, Receipt,
    TxStatus,
};

/// Gas every mock transaction uses.
pub const MOCK_TX_GAS: u64 = 21_000;

type CallHandler = Arc<dyn Fn(&CallRequest, u64) -> Result<Bytes> + Send + Sync>;

/// A log to be emitted in the next mined block.
#[derive(Debug, Clone)]
struct PendingLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
}

#[derive(Debug, Clone)]
struct MockBlock {
    head: BlockRef,
    logs: Vec<Log>,
    txs: Vec<B256>,
}

struct State {
    chain_id: u64,
    capabilities: Capabilities,
    blocks: Vec<MockBlock>,
    safe_depth: u64,
    finalized_depth: u64,
    block_time: u64,
    salt: u64,
    pending_logs: Vec<PendingLog>,
    pending_txs: Vec<B256>,
    statuses: HashMap<B256, TxStatus>,
    receipts: HashMap<B256, Receipt>,
    revert_on_mine: HashSet<B256>,
    sent: Vec<Bytes>,
    send_errors: VecDeque<ChainError>,
    read_errors: VecDeque<ChainError>,
    nonces: BTreeMap<Address, BTreeMap<u64, u64>>,
    balances: BTreeMap<Address, BTreeMap<u64, U256>>,
    fees: FeeEstimate,
    gas_estimate: u64,
    estimate_revert: Option<Bytes>,
    call_handler: Option<CallHandler>,
}

impl State {
    fn latest(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    fn seal(&mut self, txs: Vec<B256>) -> BlockRef {
        let parent = self.blocks.last().map(|b| b.head);
        let number = parent.map_or(0, |p| p.number + 1);
        let parent_hash = parent.map_or(B256::ZERO, |p| p.hash);
        self.salt += 1;
        let mut preimage = Vec::with_capacity(56);
        for word in [self.chain_id, number, self.salt] {
            preimage.extend_from_slice(&word.to_be_bytes());
        }
        preimage.extend_from_slice(parent_hash.as_slice());
        let head = BlockRef {
            number,
            hash: keccak256(&preimage),
            parent_hash,
            timestamp: parent.map_or(1_700_000_000, |p| p.timestamp + self.block_time),
        };
        let effective_gas_price = self.fees.base_fee_per_gas + self.fees.max_priority_fee_per_gas;
        let mut logs = Vec::new();
        for (i, pending) in std::mem::take(&mut self.pending_logs)
            .into_iter()
            .enumerate()
        {
            let i = i as u64;
            let tx_hash = keccak256([head.hash.as_slice(), &i.to_be_bytes()].concat());
            logs.push(Log {
                address: pending.address,
                topics: pending.topics,
                data: pending.data,
                block_number: number,
                block_hash: head.hash,
                tx_hash,
                log_index: i,
            });
        }
        for tx in &txs {
            let success = !self.revert_on_mine.contains(tx);
            self.statuses.insert(
                *tx,
                TxStatus::Mined {
                    block_number: number,
                    block_hash: head.hash,
                    success,
                },
            );
            self.receipts.insert(
                *tx,
                Receipt {
                    tx_hash: *tx,
                    success,
                    block_number: number,
                    block_hash: head.hash,
                    gas_used: MOCK_TX_GAS,
                    effective_gas_price,
                    contract_address: None,
                    logs: Vec::new(),
                },
            );
        }
        self.blocks.push(MockBlock { head, logs, txs });
        head
    }

    fn resolve(&self, id: BlockId) -> Option<u64> {
        let latest = self.latest();
        match id {
            BlockId::Number(n) => (n <= latest).then_some(n),
            BlockId::Hash(h) => self
                .blocks
                .iter()
                .find(|b| b.head.hash == h)
                .map(|b| b.head.number),
            BlockId::Tag(BlockTag::Latest) => Some(latest),
            BlockId::Tag(BlockTag::Safe) => Some(latest.saturating_sub(self.safe_depth)),
            BlockId::Tag(BlockTag::Finalized) => Some(latest.saturating_sub(self.finalized_depth)),
        }
    }

    fn resolve_or_not_found(&self, id: BlockId) -> Result<u64> {
        self.resolve(id)
            .ok_or_else(|| ChainError::NotFound(id.to_string()))
    }

    fn injected(&mut self) -> Result<()> {
        self.read_errors.pop_front().map_or(Ok(()), Err)
    }
}

fn as_of<V: Copy + Default>(history: Option<&BTreeMap<u64, V>>, block: u64) -> V {
    history
        .and_then(|h| h.range(..=block).next_back())
        .map(|(_, v)| *v)
        .unwrap_or_default()
}

/// An in-memory chain. Clones share the chain, so a test keeps one while the code under
/// test holds another as `Arc<dyn Chain>`.
///
/// It starts with a genesis block (0). `safe` and `finalized` trail `latest` by depths you
/// set (0 and 0 by default). A sent transaction's hash is the keccak of its bytes; it stays
/// pending until [`MockChain::mine`]. Nonces and balances have a history: a value set now
/// holds from the latest block on.
#[derive(Clone)]
pub struct MockChain {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MockChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MockChain")
            .field("chain_id", &state.chain_id)
            .field("latest", &state.latest())
            .finish_non_exhaustive()
    }
}

impl MockChain {
    /// A chain with EVM chain id `chain_id`, a genesis block, and no capabilities.
    pub fn new(chain_id: u64) -> Self {
        let mut state = State {
            chain_id,
            capabilities: Capabilities::NONE,
            blocks: Vec::new(),
            safe_depth: 0,
            finalized_depth: 0,
            block_time: 12,
            salt: 0,
            pending_logs: Vec::new(),
            pending_txs: Vec::new(),
            statuses: HashMap::new(),
            receipts: HashMap::new(),
            revert_on_mine: HashSet::new(),
            sent: Vec::new(),
            send_errors: VecDeque::new(),
            read_errors: VecDeque::new(),
            nonces: BTreeMap::new(),
            balances: BTreeMap::new(),
            fees: FeeEstimate {
                base_fee_per_gas: 1_000_000_000,
                max_fee_per_gas: 3_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
            },
            gas_estimate: 100_000,
            estimate_revert: None,
            call_handler: None,
        };
        state.seal(Vec::new());
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The same chain, declaring that it verifies proofs (it can be the primary).
    pub fn verifying(self) -> Self {
        self.lock().capabilities = Capabilities::NONE.with_proof_verification();
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; the state is
        // still usable for its other assertions.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mines a block holding every pending transaction and emitted log.
    pub fn mine(&self) -> BlockRef {
        let mut state = self.lock();
        let txs = std::mem::take(&mut state.pending_txs);
        state.seal(txs)
    }

    /// Mines `n` blocks; returns the last.
    pub fn mine_n(&self, n: u64) -> BlockRef {
        let mut head = self.latest();
        for _ in 0..n {
            head = self.mine();
        }
        head
    }

    /// Replaces the last `depth` blocks with as many new empty ones (new hashes). Their
    /// transactions go back to pending, their logs and receipts are gone, and nonces and
    /// balances set since are forgotten.
    ///
    /// # Panics
    /// If `depth` would remove the genesis block.
    pub fn reorg(&self, depth: u64) -> BlockRef {
        let mut state = self.lock();
        let latest = state.latest();
        assert!(depth <= latest, "cannot reorg the genesis block away");
        let keep = (latest - depth + 1) as usize;
        let dropped = state.blocks.split_off(keep);
        let mut back = Vec::new();
        for block in dropped {
            for tx in block.txs {
                state.receipts.remove(&tx);
                state.statuses.insert(tx, TxStatus::Pending);
                back.push(tx);
            }
        }
        back.append(&mut state.pending_txs);
        state.pending_txs = back;
        let last_kept = keep as u64 - 1;
        for history in state.nonces.values_mut() {
            history.retain(|b, _| *b <= last_kept);
        }
        for history in state.balances.values_mut() {
            history.retain(|b, _| *b <= last_kept);
        }
        let logs = std::mem::take(&mut state.pending_logs);
        for _ in 0..depth {
            state.seal(Vec::new());
        }
        state.pending_logs = logs;
        state.blocks.last().expect("genesis at least").head
    }

    /// The latest block.
    pub fn latest(&self) -> BlockRef {
        self.lock().blocks.last().expect("genesis at least").head
    }

    /// Makes `safe` and `finalized` trail `latest` by these many blocks.
    pub fn set_depths(&self, safe: u64, finalized: u64) {
        let mut state = self.lock();
        state.safe_depth = safe;
        state.finalized_depth = finalized;
    }

    /// Emits a log in the next mined block (with a made-up transaction hash).
    pub fn emit_log(&self, address: Address, topics: Vec<B256>, data: impl Into<Bytes>) {
        self.lock().pending_logs.push(PendingLog {
            address,
            topics,
            data: data.into(),
        });
    }

    /// Every raw transaction `send_raw` accepted, in order.
    pub fn sent(&self) -> Vec<Bytes> {
        self.lock().sent.clone()
    }

    /// Hashes of the transactions waiting for the next block.
    pub fn pending(&self) -> Vec<B256> {
        self.lock().pending_txs.clone()
    }

    /// Makes the next `send_raw` fail with `error` (errors queue up).
    pub fn fail_next_send(&self, error: ChainError) {
        self.lock().send_errors.push_back(error);
    }

    /// Makes the next read (any `ChainReader` or `ChainFees` method) fail with `error`.
    pub fn fail_next_read(&self, error: ChainError) {
        self.lock().read_errors.push_back(error);
    }

    /// Makes `tx` revert when it is mined.
    pub fn revert_on_mine(&self, tx: B256) {
        self.lock().revert_on_mine.insert(tx);
    }

    /// Drops every pending transaction.
    pub fn drop_pending(&self) {
        let mut state = self.lock();
        for tx in std::mem::take(&mut state.pending_txs) {
            state.statuses.insert(tx, TxStatus::Dropped);
        }
    }

    /// Sets the nonce of `account` from the latest block on.
    pub fn set_nonce(&self, account: Address, nonce: u64) {
        let mut state = self.lock();
        let latest = state.latest();
        state
            .nonces
            .entry(account)
            .or_default()
            .insert(latest, nonce);
    }

    /// Sets the balance of `account` from the latest block on.
    pub fn set_balance(&self, account: Address, balance: U256) {
        let mut state = self.lock();
        let latest = state.latest();
        state
            .balances
            .entry(account)
            .or_default()
            .insert(latest, balance);
    }

    /// The fee estimate it answers with.
    pub fn set_fees(&self, fees: FeeEstimate) {
        self.lock().fees = fees;
    }

    /// The gas estimate it answers with (100 000 by default).
    pub fn set_gas_estimate(&self, gas: u64) {
        self.lock().gas_estimate = gas;
    }

    /// Makes every gas estimate revert with `data` (a contract refusing the call), or
    /// answer again with `None`.
    pub fn set_estimate_revert(&self, data: Option<Bytes>) {
        self.lock().estimate_revert = data;
    }

    /// Answers calls with `handler(call, block number)`; without one, calls are
    /// unsupported.
    pub fn on_call(
        &self,
        handler: impl Fn(&CallRequest, u64) -> Result<Bytes> + Send + Sync + 'static,
    ) {
        self.lock().call_handler = Some(Arc::new(handler));
    }

    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T>,
    ) -> ChainFuture<'_, T> {
        let answer = {
            let mut state = self.lock();
            state.injected().and_then(|()| f(&mut state))
        };
        Box::pin(std::future::ready(answer))
    }
}

impl ChainReader for MockChain {
    fn chain_id(&self) -> ChainFuture<'_, u64> {
        self.read(|s| Ok(s.chain_id))
    }

    fn block(&self, id: BlockId) -> ChainFuture<'_, Option<BlockRef>> {
        self.read(move |s| Ok(s.resolve(id).map(|n| s.blocks[n as usize].head)))
    }

    fn logs(&self, filter: LogFilter) -> ChainFuture<'_, Vec<Log>> {
        self.read(move |s| {
            Ok(s.blocks
                .iter()
                .flat_map(|b| &b.logs)
                .filter(|log| filter.matches(log))
                .cloned()
                .collect())
        })
    }

    fn call(&self, call: CallRequest, at: BlockId) -> ChainFuture<'_, Bytes> {
        self.read(move |s| {
            let block = s.resolve_or_not_found(at)?;
            let handler = s
                .call_handler
                .clone()
                .ok_or_else(|| ChainError::Unsupported("the mock has no call handler".into()))?;
            handler(&call, block)
        })
    }

    fn receipt(&self, tx: B256) -> ChainFuture<'_, Option<Receipt>> {
        self.read(move |s| Ok(s.receipts.get(&tx).cloned()))
    }

    fn nonce(&self, account: Address, at: BlockId) -> ChainFuture<'_, u64> {
        self.read(move |s| {
            let block = s.resolve_or_not_found(at)?;
            Ok(as_of(s.nonces.get(&account), block))
        })
    }

    fn balance(&self, account: Address, at: BlockId) -> ChainFuture<'_, U256> {
        self.read(move |s| {
            let block = s.resolve_or_not_found(at)?;
            Ok(as_of(s.balances.get(&account), block))
        })
    }
}

impl ChainFees for MockChain {
    fn estimate_fees(&self) -> ChainFuture<'_, FeeEstimate> {
        self.read(|s| Ok(s.fees))
    }

    fn estimate_gas(&self, _call: CallRequest) -> ChainFuture<'_, u64> {
        self.read(|s| match &s.estimate_revert {
            Some(data) => Err(ChainError::Reverted {
                tx: None,
                reason: None,
                data: data.clone(),
            }),
            None => Ok(s.gas_estimate),
        })
    }
}

impl ChainSender for MockChain {
    fn send_raw(&self, signed: Bytes) -> ChainFuture<'_, B256> {
        let answer = (|| {
            let mut state = self.lock();
            if let Some(error) = state.send_errors.pop_front() {
                return Err(error);
            }
            let hash = keccak256(&signed);
            if matches!(
                state.statuses.get(&hash),
                Some(TxStatus::Pending | TxStatus::Mined { .. })
            ) {
                return Err(ChainError::AlreadyKnown);
            }
            state.sent.push(signed);
            state.pending_txs.push(hash);
            state.statuses.insert(hash, TxStatus::Pending);
            Ok(hash)
        })();
        Box::pin(std::future::ready(answer))
    }

    fn tx_status(&self, tx: B256) -> ChainFuture<'_, TxStatus> {
        self.read(move |s| Ok(s.statuses.get(&tx).copied().unwrap_or(TxStatus::Unknown)))
    }
}

impl Chain for MockChain {
    fn capabilities(&self) -> Capabilities {
        self.lock().capabilities
    }
}

/// A factory of [`MockChain`]s that keeps a handle on each one it built.
///
/// Plugin keys: `chain_id` (default `31337 + id`) and `verifies_proofs` (default false).
#[derive(Clone, Default, Debug)]
pub struct MockFactory {
    built: Arc<Mutex<BTreeMap<String, MockChain>>>,
}

impl MockFactory {
    /// The chain built for the chain named `name`.
    pub fn get(&self, name: &str) -> Option<MockChain> {
        self.built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

impl ChainFactory for MockFactory {
    fn build(
        &self,
        spec: &ChainSpec,
        section: &mut PluginSection,
    ) -> std::result::Result<Arc<dyn Chain>, ConfigError> {
        let chain_id = section.take_or("chain_id", 31_337 + u64::from(spec.id))?;
        let mut chain = MockChain::new(chain_id);
        if section.take_or("verifies_proofs", false)? {
            chain = chain.verifying();
        }
        self.built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spec.name.clone(), chain.clone());
        Ok(Arc::new(chain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::Finality;

    const A: Address = Address::repeat_byte(0xaa);
    const B: Address = Address::repeat_byte(0xbb);

    #[tokio::test]
    async fn heads_advance_link_and_trail_by_their_depths() {
        let chain = MockChain::new(31_337);
        assert_eq!(chain.chain_id().await.unwrap(), 31_337);
        let genesis = chain.head(BlockTag::Latest).await.unwrap();
        assert_eq!(genesis.number, 0);
        let tip = chain.mine_n(10);
        assert_eq!(tip.number, 10);
        for n in 1..=10 {
            let block = chain.block(BlockId::Number(n)).await.unwrap().unwrap();
            let parent = chain.block(BlockId::Number(n - 1)).await.unwrap().unwrap();
            assert_eq!(block.parent_hash, parent.hash);
            assert!(block.timestamp > parent.timestamp);
            assert_eq!(
                chain.block(BlockId::Hash(block.hash)).await.unwrap(),
                Some(block)
            );
        }
        assert_eq!(chain.block(BlockId::Number(11)).await.unwrap(), None);

        chain.set_depths(2, 5);
        assert_eq!(chain.head(BlockTag::Safe).await.unwrap().number, 8);
        assert_eq!(chain.head(BlockTag::Finalized).await.unwrap().number, 5);
        let final_at = |rule| {
            let chain = chain.clone();
            async move { chain.final_head(rule).await.unwrap().map(|b| b.number) }
        };
        assert_eq!(final_at(Finality::Finalized).await, Some(5));
        assert_eq!(final_at(Finality::Safe).await, Some(8));
        assert_eq!(final_at(Finality::Blocks(3)).await, Some(7));
        assert_eq!(final_at(Finality::Blocks(0)).await, Some(10));
        assert_eq!(final_at(Finality::Blocks(11)).await, None);
    }

    #[tokio::test]
    async fn logs_are_filtered_and_a_reorg_replaces_blocks_and_their_logs() {
        let chain = MockChain::new(1);
        let topic = B256::repeat_byte(1);
        let other = B256::repeat_byte(2);
        chain.emit_log(A, vec![topic], vec![1]);
        chain.emit_log(B, vec![other], vec![2]);
        let first = chain.mine();
        chain.emit_log(A, vec![other, topic], vec![3]);
        let second = chain.mine();

        let all = chain.logs(LogFilter::range(0, 2)).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!((all[0].block_hash, all[0].log_index), (first.hash, 0));
        assert_eq!((all[1].block_number, all[1].log_index), (1, 1));
        assert_eq!(all[2].block_hash, second.hash);
        let from_a = chain.logs(LogFilter::range(0, 2).address(A)).await.unwrap();
        assert_eq!(from_a.len(), 2);
        let by_topic = chain
            .logs(LogFilter::range(0, 2).topic(0, topic))
            .await
            .unwrap();
        assert_eq!(by_topic, vec![all[0].clone()]);
        let second_topic = chain
            .logs(LogFilter::range(0, 2).topic(1, topic).topic(1, other))
            .await
            .unwrap();
        assert_eq!(
            second_topic,
            vec![all[2].clone()],
            "alternatives at one position"
        );
        assert!(chain
            .logs(LogFilter::range(2, 2).address(B))
            .await
            .unwrap()
            .is_empty());

        let replaced = chain.reorg(1);
        assert_eq!(replaced.number, 2);
        assert_ne!(replaced.hash, second.hash);
        assert_eq!(replaced.parent_hash, first.hash);
        assert_eq!(chain.logs(LogFilter::range(0, 2)).await.unwrap().len(), 2);
        assert_eq!(chain.block(BlockId::Hash(second.hash)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn sent_transactions_are_recorded_mined_reverted_or_dropped() {
        let chain = MockChain::new(1);
        let raw = Bytes::from_static(b"signed tx 1");
        let hash = chain.send_raw(raw.clone()).await.unwrap();
        assert_eq!(hash, keccak256(&raw));
        assert_eq!(chain.tx_status(hash).await.unwrap(), TxStatus::Pending);
        assert!(matches!(
            chain.send_raw(raw.clone()).await,
            Err(ChainError::AlreadyKnown)
        ));
        assert_eq!(chain.sent(), vec![raw.clone()]);
        assert_eq!(chain.receipt(hash).await.unwrap(), None);

        let block = chain.mine();
        let mined = TxStatus::Mined {
            block_number: 1,
            block_hash: block.hash,
            success: true,
        };
        assert_eq!(chain.tx_status(hash).await.unwrap(), mined);
        let receipt = chain.receipt(hash).await.unwrap().unwrap();
        assert!(receipt.success);
        assert_eq!(
            (receipt.block_hash, receipt.gas_used),
            (block.hash, MOCK_TX_GAS)
        );
        assert_eq!(receipt.effective_gas_price, 2_000_000_000);

        chain.reorg(1);
        assert_eq!(
            chain.tx_status(hash).await.unwrap(),
            TxStatus::Pending,
            "back to the pool"
        );
        assert_eq!(chain.pending(), vec![hash]);
        chain.revert_on_mine(hash);
        chain.mine();
        assert!(matches!(
            chain.tx_status(hash).await.unwrap(),
            TxStatus::Mined {
                block_number: 2,
                success: false,
                ..
            }
        ));

        let doomed = chain
            .send_raw(Bytes::from_static(b"signed tx 2"))
            .await
            .unwrap();
        chain.drop_pending();
        assert_eq!(chain.tx_status(doomed).await.unwrap(), TxStatus::Dropped);
        assert_eq!(
            chain.tx_status(B256::ZERO).await.unwrap(),
            TxStatus::Unknown
        );

        chain.fail_next_send(ChainError::InsufficientFunds("empty".into()));
        let err = chain
            .send_raw(Bytes::from_static(b"signed tx 3"))
            .await
            .unwrap_err();
        assert!(matches!(err, ChainError::InsufficientFunds(_)));
        assert_eq!(chain.sent().len(), 2, "a refused send is not recorded");
        chain
            .send_raw(Bytes::from_static(b"signed tx 3"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn nonces_and_balances_have_a_history() {
        let chain = MockChain::new(1);
        chain.set_depths(0, 2);
        chain.set_nonce(A, 1);
        chain.set_balance(A, U256::from(100));
        chain.mine_n(2);
        chain.set_nonce(A, 2);
        chain.mine();
        chain.set_nonce(A, 5);
        let at = |tag| BlockId::Tag(tag);
        assert_eq!(chain.nonce(A, at(BlockTag::Latest)).await.unwrap(), 5);
        assert_eq!(chain.nonce(A, at(BlockTag::Finalized)).await.unwrap(), 1);
        assert_eq!(chain.nonce(A, BlockId::Number(2)).await.unwrap(), 2);
        assert_eq!(chain.nonce(B, at(BlockTag::Latest)).await.unwrap(), 0);
        assert_eq!(
            chain.balance(A, BlockId::Number(0)).await.unwrap(),
            U256::from(100)
        );
        assert!(matches!(
            chain.nonce(A, BlockId::Number(9)).await,
            Err(ChainError::NotFound(_))
        ));
        chain.reorg(1);
        assert_eq!(
            chain.nonce(A, at(BlockTag::Latest)).await.unwrap(),
            2,
            "what was set in a reorged block is gone"
        );
    }

    #[tokio::test]
    async fn calls_fees_and_injected_errors() {
        let chain = MockChain::new(1);
        let call = CallRequest::new(A, vec![0x12]);
        assert!(matches!(
            chain.call(call.clone(), BlockTag::Latest.into()).await,
            Err(ChainError::Unsupported(_))
        ));
        chain.on_call(|call, block| {
            if call.input.is_empty() {
                return Err(ChainError::Reverted {
                    tx: None,
                    reason: Some("empty".into()),
                    data: Bytes::new(),
                });
            }
            Ok(Bytes::from(vec![call.input[0], block as u8]))
        });
        chain.mine();
        let out = chain
            .call(call.clone(), BlockTag::Latest.into())
            .await
            .unwrap();
        assert_eq!(out.as_ref(), [0x12, 1]);
        let reverted = chain.call(CallRequest::new(A, Vec::new()), 0.into()).await;
        assert!(matches!(reverted, Err(ChainError::Reverted { .. })));

        let fees = FeeEstimate {
            base_fee_per_gas: 7,
            max_fee_per_gas: 20,
            max_priority_fee_per_gas: 6,
        };
        chain.set_fees(fees);
        chain.set_gas_estimate(55_000);
        assert_eq!(chain.estimate_fees().await.unwrap(), fees);
        assert_eq!(chain.estimate_gas(call).await.unwrap(), 55_000);

        chain.fail_next_read(ChainError::Timeout("injected".into()));
        let err = chain.head(BlockTag::Latest).await.unwrap_err();
        assert!(err.is_transient());
        assert_eq!(
            chain.head(BlockTag::Latest).await.unwrap().number,
            1,
            "only once"
        );
    }

    #[tokio::test]
    async fn works_as_a_shared_trait_object() {
        let chain = MockChain::new(1).verifying();
        let shared: Arc<dyn Chain> = Arc::new(chain.clone());
        assert!(shared.capabilities().verifies_proofs);
        chain.mine();
        let reader: Arc<dyn ChainReader> = shared.clone();
        assert_eq!(reader.head(BlockTag::Latest).await.unwrap().number, 1);
        let task =
            tokio::spawn(async move { shared.head(BlockTag::Latest).await.map(|h| h.number) });
        assert_eq!(task.await.unwrap().unwrap(), 1, "futures are Send");
        assert!(!MockChain::new(2).capabilities().verifies_proofs);
    }
}
