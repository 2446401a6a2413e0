//! Test doubles for the sender's tests: a chain over `MockChain` that behaves like a
//! transaction pool, a store whose commits can fail, and a signer that checks the store.
//!
//! `MockChain` mines every pending transaction and knows nothing of nonces: it would mine
//! a transaction and its replacement both, and the sender's nonce moves only when a test
//! sets it. [`TestChain`] wraps it: it decodes what is sent, keeps one transaction per
//! (sender, nonce) with geth's replacement rule (both fees up by 10%), hands the mock only
//! the winner in nonce order when a block is mined, and sets the sender's nonce from what
//! the mock mined.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use alloy_consensus::{Signed, TxEip1559};
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use manyfold_chain::testing::MockChain;
use manyfold_chain::{
    BlockId, BlockRef, BlockTag, CallRequest, Capabilities, Chain, ChainError, ChainFees,
    ChainFuture, ChainReader, ChainSender, FeeEstimate, Log, LogFilter, Receipt, TxStatus,
};
use manyfold_sender::{SenderStore, SignedTx, SignerError, TxSigner};
use manyfold_storage::{MemoryStorage, Order, Storage, StorageError, WriteBatch};

/// Runs a future that is ready at once (the mock's are).
pub(crate) fn now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the mock's futures are ready at once"),
    }
}

/// A decoded transaction, with its signer.
pub(crate) fn decode(raw: &[u8]) -> (Address, TxEip1559) {
    let signed = Signed::<TxEip1559>::eip2718_decode(&mut &raw[..]).expect("an EIP-1559 tx");
    let from = signed.recover_signer().expect("a valid signature");
    (from, signed.strip_signature())
}

type SendHook = Arc<dyn Fn(B256, u64) + Send + Sync>;

#[derive(Clone)]
struct Candidate {
    hash: B256,
    raw: Bytes,
    max_fee: u128,
    tip: u128,
}

#[derive(Default)]
struct Pool {
    /// Receipt reads still to answer `None` (a lagging, load-balanced endpoint).
    hidden_receipts: usize,
    waiting: BTreeMap<(Address, u64), Candidate>,
    known: HashSet<B256>,
    replaced: HashSet<B256>,
    accepted: Vec<(u64, B256)>,
    forwarded: HashMap<B256, (Address, u64)>,
    revert_nonces: HashSet<u64>,
    send_errors: VecDeque<ChainError>,
    on_send: Option<SendHook>,
}

/// A [`MockChain`] with a transaction pool in front: one transaction mined per nonce.
#[derive(Clone)]
pub(crate) struct TestChain {
    /// The chain underneath (heads, depths, fees, reorgs).
    pub(crate) mock: MockChain,
    pool: Arc<Mutex<Pool>>,
}

impl TestChain {
    pub(crate) fn new(chain_id: u64) -> Self {
        Self {
            mock: MockChain::new(chain_id),
            pool: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mines a block with the waiting transactions that are next in nonce order (the
    /// highest-fee one per nonce).
    pub(crate) fn mine(&self) -> BlockRef {
        let mut pool = self.lock();
        let senders: HashSet<Address> = pool.waiting.keys().map(|(a, _)| *a).collect();
        for sender in senders {
            let mut next = self.next_nonce(&pool, sender);
            while let Some(c) = pool.waiting.remove(&(sender, next)) {
                if pool.revert_nonces.contains(&next) {
                    self.mock.revert_on_mine(c.hash);
                }
                now(self.mock.send_raw(c.raw.clone())).expect("the mock takes it");
                pool.forwarded.insert(c.hash, (sender, next));
                next += 1;
            }
            let stale: Vec<(Address, u64)> = pool
                .waiting
                .keys()
                .filter(|(a, n)| *a == sender && *n < next)
                .copied()
                .collect();
            for key in stale {
                let c = pool.waiting.remove(&key).expect("listed");
                pool.replaced.insert(c.hash);
            }
        }
        let head = self.mock.mine();
        self.update_nonces(&pool);
        head
    }

    /// Mines `n` blocks without taking anything from the pool.
    pub(crate) fn advance(&self, n: u64) -> BlockRef {
        let pool = self.lock();
        let mut head = self.mock.latest();
        for _ in 0..n {
            head = self.mock.mine();
            self.update_nonces(&pool);
        }
        head
    }

    /// Replaces the last `depth` blocks; their transactions go back to the mock's pool.
    pub(crate) fn reorg(&self, depth: u64) -> BlockRef {
        self.mock.reorg(depth)
    }

    fn next_nonce(&self, pool: &Pool, sender: Address) -> u64 {
        let mined = now(self.mock.nonce(sender, BlockId::Tag(BlockTag::Latest))).unwrap();
        let pending = pool
            .forwarded
            .iter()
            .filter(|(h, (a, _))| {
                *a == sender && now(self.mock.tx_status(**h)).unwrap() == TxStatus::Pending
            })
            .count() as u64;
        mined + pending
    }

    fn update_nonces(&self, pool: &Pool) {
        let mut highest: HashMap<Address, u64> = HashMap::new();
        for (hash, (sender, nonce)) in &pool.forwarded {
            if matches!(
                now(self.mock.tx_status(*hash)).unwrap(),
                TxStatus::Mined { .. }
            ) {
                let h = highest.entry(*sender).or_default();
                *h = (*h).max(nonce + 1);
            }
        }
        for (sender, nonce) in highest {
            let current = now(self.mock.nonce(sender, BlockId::Tag(BlockTag::Latest))).unwrap();
            if nonce > current {
                self.mock.set_nonce(sender, nonce);
            }
        }
    }

    /// Makes whichever transaction lands at `nonce` revert.
    pub(crate) fn revert_nonce(&self, nonce: u64) {
        self.lock().revert_nonces.insert(nonce);
    }

    /// Makes the next send fail with `error` (before anything is accepted).
    pub(crate) fn fail_next_send(&self, error: ChainError) {
        self.lock().send_errors.push_back(error);
    }

    /// Calls `hook(hash, nonce)` on every send, before anything else.
    pub(crate) fn on_send(&self, hook: impl Fn(B256, u64) + Send + Sync + 'static) {
        self.lock().on_send = Some(Arc::new(hook));
    }

    /// Every distinct transaction the pool accepted: (nonce, hash), in order.
    /// The next `n` receipt reads answer `None`, whatever is mined.
    pub(crate) fn hide_receipts(&self, n: usize) {
        self.lock().hidden_receipts = n;
    }

    pub(crate) fn accepted(&self) -> Vec<(u64, B256)> {
        self.lock().accepted.clone()
    }

    /// How many distinct transactions the pool accepted per nonce.
    pub(crate) fn accepted_per_nonce(&self) -> BTreeMap<u64, usize> {
        let mut counts = BTreeMap::new();
        for (nonce, _) in self.accepted() {
            *counts.entry(nonce).or_default() += 1;
        }
        counts
    }

    /// The transactions in canonical blocks, per nonce.
    pub(crate) fn mined_per_nonce(&self) -> BTreeMap<u64, Vec<B256>> {
        let pool = self.lock();
        let mut mined: BTreeMap<u64, Vec<B256>> = BTreeMap::new();
        for (hash, (_, nonce)) in &pool.forwarded {
            if matches!(
                now(self.mock.tx_status(*hash)).unwrap(),
                TxStatus::Mined { .. }
            ) {
                mined.entry(*nonce).or_default().push(*hash);
            }
        }
        mined
    }
}

impl ChainReader for TestChain {
    fn chain_id(&self) -> ChainFuture<'_, u64> {
        self.mock.chain_id()
    }
    fn block(&self, id: BlockId) -> ChainFuture<'_, Option<BlockRef>> {
        self.mock.block(id)
    }
    fn logs(&self, filter: LogFilter) -> ChainFuture<'_, Vec<Log>> {
        self.mock.logs(filter)
    }
    fn call(&self, call: CallRequest, at: BlockId) -> ChainFuture<'_, Bytes> {
        self.mock.call(call, at)
    }
    fn receipt(&self, tx: B256) -> ChainFuture<'_, Option<Receipt>> {
        {
            let mut pool = self.lock();
            if pool.hidden_receipts > 0 {
                pool.hidden_receipts -= 1;
                return Box::pin(async { Ok(None) });
            }
        }
        self.mock.receipt(tx)
    }
    fn nonce(&self, account: Address, at: BlockId) -> ChainFuture<'_, u64> {
        self.mock.nonce(account, at)
    }
    fn balance(&self, account: Address, at: BlockId) -> ChainFuture<'_, U256> {
        self.mock.balance(account, at)
    }
}

impl ChainFees for TestChain {
    fn estimate_fees(&self) -> ChainFuture<'_, FeeEstimate> {
        self.mock.estimate_fees()
    }
    fn estimate_gas(&self, call: CallRequest) -> ChainFuture<'_, u64> {
        self.mock.estimate_gas(call)
    }
}

impl ChainSender for TestChain {
    fn send_raw(&self, signed: Bytes) -> ChainFuture<'_, B256> {
        let hash = keccak256(&signed);
        let (from, tx) = decode(&signed);
        let hook = self.lock().on_send.clone();
        if let Some(hook) = hook {
            hook(hash, tx.nonce);
        }
        let answer = (|| {
            let mut pool = self.lock();
            if let Some(error) = pool.send_errors.pop_front() {
                return Err(error);
            }
            if pool.known.contains(&hash) {
                return Err(ChainError::AlreadyKnown);
            }
            if tx.nonce < self.next_nonce(&pool, from) {
                return Err(ChainError::NonceTooLow(format!("nonce {}", tx.nonce)));
            }
            let candidate = Candidate {
                hash,
                raw: signed.clone(),
                max_fee: tx.max_fee_per_gas,
                tip: tx.max_priority_fee_per_gas,
            };
            if let Some(old) = pool.waiting.get(&(from, tx.nonce)).cloned() {
                if candidate.max_fee * 10 < old.max_fee * 11 || candidate.tip * 10 < old.tip * 11 {
                    return Err(ChainError::Underpriced("replacement".into()));
                }
                pool.replaced.insert(old.hash);
            }
            pool.waiting.insert((from, tx.nonce), candidate);
            pool.known.insert(hash);
            pool.accepted.push((tx.nonce, hash));
            Ok(hash)
        })();
        Box::pin(std::future::ready(answer))
    }

    fn tx_status(&self, tx: B256) -> ChainFuture<'_, TxStatus> {
        let pool = self.lock();
        if pool.waiting.values().any(|c| c.hash == tx) {
            return Box::pin(std::future::ready(Ok(TxStatus::Pending)));
        }
        if pool.replaced.contains(&tx) {
            return Box::pin(std::future::ready(Ok(TxStatus::Dropped)));
        }
        drop(pool);
        self.mock.tx_status(tx)
    }
}

impl Chain for TestChain {
    fn capabilities(&self) -> Capabilities {
        self.mock.capabilities()
    }
}

/// A memory store whose next commits can be made to fail.
#[derive(Debug, Default)]
pub(crate) struct FlakyStorage {
    inner: MemoryStorage,
    fail_commits: AtomicUsize,
}

impl FlakyStorage {
    /// Makes the next `n` commits fail (and change nothing).
    pub(crate) fn fail_next_commits(&self, n: usize) {
        self.fail_commits.store(n, Ordering::SeqCst);
    }
}

impl Storage for FlakyStorage {
    fn get_raw(
        &self,
        table: &'static str,
        key: &[u8],
    ) -> manyfold_storage::Result<Option<Vec<u8>>> {
        self.inner.get_raw(table, key)
    }
    fn scan_raw(&self, table: &'static str) -> manyfold_storage::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan_raw(table)
    }
    fn range_raw(
        &self,
        table: &'static str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        order: Order,
        limit: Option<usize>,
    ) -> manyfold_storage::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.range_raw(table, start, end, order, limit)
    }
    fn commit(&self, batch: WriteBatch) -> manyfold_storage::Result<()> {
        let failing = self
            .fail_commits
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StorageError::Backend("injected commit failure".into()));
        }
        self.inner.commit(batch)
    }
}

/// A signer that asserts, each time it signs, that the request is already in the store
/// exactly as it signs it, and counts its signatures.
#[derive(Debug)]
pub(crate) struct CheckingSigner {
    pub(crate) inner: manyfold_sender::LocalSigner,
    pub(crate) store: SenderStore,
    pub(crate) signed: AtomicUsize,
}

impl TxSigner for CheckingSigner {
    fn address(&self) -> Address {
        self.inner.address()
    }

    fn sign(&self, tx: &TxEip1559) -> Result<SignedTx, SignerError> {
        let stored = self
            .store
            .request(tx.nonce)
            .expect("the store reads")
            .expect("a request is stored before it is signed");
        assert_eq!(stored.calldata, tx.input);
        assert_eq!(stored.to, tx.to.to().copied());
        self.signed.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(tx)
    }
}
