//! The engine: state, blocks, pool and mining, persisted through the storage trait.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use alloy_consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{
    Eip658Value, Header, Receipt as ConsensusReceipt, ReceiptEnvelope, ReceiptWithBloom,
    Transaction, TxEnvelope, TxType, EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH,
};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{
    logs_bloom, Address, Bloom, Bytes, Log as PrimitiveLog, TxKind, B256, U256,
};
use manyfold_chain::{BlockId, BlockRef, ChainError, Log, LogFilter, Receipt, TxStatus};
use manyfold_storage::{Order, Storage, StorageExt, WriteBatch};
use revm::bytecode::Bytecode;
use revm::context_interface::result::{EVMError, ExecutionResult, HaltReason, Output};
use revm::database::{AccountState, CacheDB};
use revm::primitives::KECCAK_EMPTY;
use revm::{ExecuteCommitEvm, ExecuteEvm};

use crate::config::{BlockTime, EmbeddedConfig};
use crate::dev::{dev_accounts, DevAccount};
use crate::error::EmbeddedError;
use crate::evm::{self, ChainPrecompiles, Env, World, WorldDb};
use crate::fees::next_base_fee;
use crate::pool::{Admission, Pool, PoolLimits, PoolTx, SenderState};
use crate::tables::{
    AccountRecord, Accounts, BlockHashes, BlockLogs, Blocks, Code, Json, Meta, Pending, Receipts,
    Slots, StoredBlock, StoredBlockLogs, StoredLog, StoredReceipt, StoredTx, Txs, CHAIN_ID_KEY,
};

/// How many dropped transactions are remembered, for [`TxStatus::Dropped`].
const DROPPED_MEMORY: usize = 10_000;

/// The most EVM executions one [`EmbeddedChain::estimate_gas`] runs: each costs up to
/// [`EmbeddedConfig::rpc_gas_cap`] gas, and anyone reaching the RPC may ask. The search
/// stops earlier once within 1/64 of the answer; its answer always succeeds.
pub const MAX_ESTIMATE_RUNS: u32 = 16;

/// The tip [`EmbeddedChain::suggested_tip`] suggests: 1 gwei, as anvil does.
pub const SUGGESTED_TIP: u128 = 1_000_000_000;

/// A read-only call or a gas estimate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// Caller; the zero address when `None`.
    pub from: Option<Address>,
    /// Callee; `None` runs `input` as init code.
    pub to: Option<Address>,
    /// Calldata (or init code).
    pub input: Bytes,
    /// Value sent along.
    pub value: U256,
    /// Gas limit; the block gas limit when `None`.
    pub gas: Option<u64>,
}

impl From<&manyfold_chain::CallRequest> for Call {
    fn from(c: &manyfold_chain::CallRequest) -> Self {
        Self {
            from: c.from,
            to: Some(c.to),
            input: c.input.clone(),
            value: c.value,
            gas: c.gas,
        }
    }
}

/// An EVM chain on revm, in the node's process: one block per transaction or per period,
/// every block committed to the storage trait in one batch. Cheap to clone; clones share
/// the chain.
#[derive(Debug, Clone)]
pub struct EmbeddedChain {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: EmbeddedConfig,
    pub(crate) storage: Arc<dyn Storage>,
    dev: Vec<DevAccount>,
    precompiles: ChainPrecompiles,
    /// Lock order: `pool`, then `state`.
    pool: Mutex<Pool>,
    state: RwLock<State>,
    dropped: Mutex<Dropped>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) world: World,
    pub(crate) head: StoredBlock,
}

#[derive(Debug, Default)]
struct Dropped {
    order: VecDeque<B256>,
    reasons: HashMap<B256, String>,
}

impl Dropped {
    /// Forgets `hash`: sent again, it is no longer dropped.
    fn forget(&mut self, hash: &B256) {
        if self.reasons.remove(hash).is_some() {
            self.order.retain(|h| h != hash);
        }
    }

    fn record(&mut self, hash: B256, reason: String) {
        if self.reasons.insert(hash, reason).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > DROPPED_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.reasons.remove(&old);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock is a bug already reported; the data stays consistent
    // because memory is only updated after a successful commit.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn block_ref(block: &StoredBlock) -> BlockRef {
    BlockRef {
        number: block.header.number,
        hash: block.hash,
        parent_hash: block.header.parent_hash,
        timestamp: block.header.timestamp,
    }
}

fn storage_err(e: manyfold_storage::StorageError) -> ChainError {
    EmbeddedError::Storage(e).into()
}

/// The state changes of one block, computed before anything is written.
#[derive(Debug, Default)]
struct Diff {
    accounts: Vec<(Address, Option<AccountRecord>)>,
    code: Vec<(B256, Bytecode)>,
    /// Accounts whose storage was wiped (created or destroyed in the block).
    cleared: Vec<Address>,
    slots: Vec<(Address, U256, U256)>,
}

impl Diff {
    fn from_cache(db: &CacheDB<WorldDb<'_>>, world: &World) -> Self {
        let mut diff = Self::default();
        for (address, account) in &db.cache.accounts {
            let existed = world.accounts.contains_key(address);
            match account.account_state {
                AccountState::None => continue,
                AccountState::NotExisting => {
                    if existed {
                        diff.accounts.push((*address, None));
                        diff.cleared.push(*address);
                    }
                    continue;
                }
                AccountState::StorageCleared => diff.cleared.push(*address),
                AccountState::Touched => {}
            }
            let info = &account.info;
            // EIP-161: an empty account does not exist.
            if info.is_empty() {
                if existed {
                    diff.accounts.push((*address, None));
                }
            } else {
                let record = AccountRecord {
                    balance: info.balance,
                    nonce: info.nonce,
                    code_hash: info.code_hash,
                };
                if world.accounts.get(address) != Some(&record) {
                    diff.accounts.push((*address, Some(record)));
                }
                if info.code_hash != KECCAK_EMPTY && !world.code.contains_key(&info.code_hash) {
                    let code = db
                        .cache
                        .contracts
                        .get(&info.code_hash)
                        .cloned()
                        .or_else(|| info.code.clone());
                    if let Some(code) = code {
                        diff.code.push((info.code_hash, code));
                    }
                }
            }
            let cleared = account.account_state == AccountState::StorageCleared;
            for (slot, value) in &account.storage {
                if cleared || world.slot(address, slot) != *value {
                    diff.slots.push((*address, *slot, *value));
                }
            }
        }
        diff
    }

    fn write(&self, world: &World, batch: &mut WriteBatch) {
        for address in &self.cleared {
            for slot in world.slots.get(address).into_iter().flat_map(|s| s.keys()) {
                batch.delete::<Slots>(&(address.0 .0, slot.to_be_bytes()));
            }
        }
        for (address, record) in &self.accounts {
            match record {
                Some(r) => batch.put::<Accounts>(&address.0 .0, r),
                None => batch.delete::<Accounts>(&address.0 .0),
            }
        }
        for (hash, code) in &self.code {
            batch.put::<Code>(&hash.0, &code.original_bytes().to_vec());
        }
        for (address, slot, value) in &self.slots {
            let key = (address.0 .0, slot.to_be_bytes());
            if value.is_zero() {
                batch.delete::<Slots>(&key);
            } else {
                batch.put::<Slots>(&key, &value.to_be_bytes());
            }
        }
    }

    fn apply(self, world: &mut World) {
        for address in &self.cleared {
            world.slots.remove(address);
        }
        for (address, record) in self.accounts {
            match record {
                Some(r) => world.accounts.insert(address, r),
                None => world.accounts.remove(&address),
            };
        }
        for (hash, code) in self.code {
            world.code.insert(hash, code);
        }
        for (address, slot, value) in self.slots {
            let slots = world.slots.entry(address).or_default();
            if value.is_zero() {
                slots.remove(&slot);
            } else {
                slots.insert(slot, value);
            }
        }
        world.slots.retain(|_, s| !s.is_empty());
    }
}

/// A receipt in consensus form, for the receipts root and the RPC.
pub(crate) fn receipt_envelope<T>(
    ty: u8,
    success: bool,
    cumulative_gas_used: u64,
    logs: Vec<T>,
    bloom: Bloom,
) -> ReceiptEnvelope<T> {
    let receipt = ReceiptWithBloom {
        receipt: ConsensusReceipt {
            status: Eip658Value::Eip658(success),
            cumulative_gas_used,
            logs,
        },
        logs_bloom: bloom,
    };
    match TxType::try_from(ty).unwrap_or(TxType::Legacy) {
        TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(receipt),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(receipt),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(receipt),
    }
}

/// Decodes one EIP-2718 transaction of a type the chain runs, with its signer.
pub(crate) fn decode_tx(raw: &[u8]) -> Result<(TxEnvelope, Address), EmbeddedError> {
    let mut buf = raw;
    let envelope = TxEnvelope::decode_2718(&mut buf)
        .map_err(|e| EmbeddedError::BadTransaction(e.to_string()))?;
    if !buf.is_empty() {
        return Err(EmbeddedError::BadTransaction(
            "trailing bytes after the transaction".into(),
        ));
    }
    if !matches!(
        envelope.tx_type(),
        TxType::Legacy | TxType::Eip2930 | TxType::Eip1559
    ) {
        return Err(EmbeddedError::BadTransaction(format!(
            "transaction type {} not supported",
            envelope.tx_type() as u8
        )));
    }
    let sender = envelope
        .recover_signer()
        .map_err(|e| EmbeddedError::BadTransaction(format!("invalid signature: {e}")))?;
    Ok((envelope, sender))
}

impl EmbeddedChain {
    /// Opens the chain stored in `storage`: creates genesis (block 0, funding the dev
    /// accounts) in an empty store, or reloads the state, the head and the pending
    /// transactions of one made under the same chain id.
    pub fn open(storage: Arc<dyn Storage>, config: EmbeddedConfig) -> Result<Self, EmbeddedError> {
        let dev = dev_accounts(&config.mnemonic, config.dev_accounts)?;
        let state = match storage.get::<Meta>(&CHAIN_ID_KEY.to_vec())? {
            None => Self::genesis(&*storage, &config, &dev)?,
            Some(stored) if stored != config.chain_id => {
                return Err(EmbeddedError::ChainIdMismatch {
                    stored,
                    configured: config.chain_id,
                })
            }
            Some(_) => Self::load(&*storage)?,
        };
        let chain = Self {
            inner: Arc::new(Inner {
                precompiles: ChainPrecompiles::new(config.verifier.as_ref()),
                pool: Mutex::new(Pool::new(PoolLimits {
                    capacity: config.pool_capacity,
                    per_sender: config.max_txs_per_sender,
                    max_nonce_ahead: config.max_nonce_ahead,
                })),
                state: RwLock::new(state),
                dropped: Mutex::new(Dropped::default()),
                config,
                storage,
                dev,
            }),
        };
        chain.reload_pending()?;
        Ok(chain)
    }

    fn genesis(
        storage: &dyn Storage,
        config: &EmbeddedConfig,
        dev: &[DevAccount],
    ) -> Result<State, EmbeddedError> {
        let mut world = World::default();
        let mut batch = WriteBatch::new();
        for account in dev {
            let record = AccountRecord {
                balance: config.dev_balance,
                nonce: 0,
                code_hash: KECCAK_EMPTY,
            };
            world.accounts.insert(account.address, record);
            batch.put::<Accounts>(&account.address.0 .0, &record);
        }
        let header = Header {
            parent_hash: B256::ZERO,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            number: 0,
            gas_limit: config.block_gas_limit,
            timestamp: now_secs(),
            base_fee_per_gas: Some(config.initial_base_fee),
            ..Header::default()
        };
        let head = StoredBlock {
            hash: header.hash_slow(),
            header,
            transactions: Vec::new(),
        };
        batch.put::<Blocks>(&0, &Json(head.clone()));
        batch.put::<BlockHashes>(&head.hash.0, &0);
        batch.put::<Meta>(&CHAIN_ID_KEY.to_vec(), &config.chain_id);
        storage.commit(batch)?;
        tracing::info!(chain_id = config.chain_id, hash = %head.hash, "embedded chain: genesis");
        Ok(State { world, head })
    }

    fn load(storage: &dyn Storage) -> Result<State, EmbeddedError> {
        let mut world = World::default();
        for (address, record) in storage.scan::<Accounts>()? {
            world.accounts.insert(Address::from(address), record);
        }
        for (hash, code) in storage.scan::<Code>()? {
            world
                .code
                .insert(B256::from(hash), Bytecode::new_raw(code.into()));
        }
        for ((address, slot), value) in storage.scan::<Slots>()? {
            world
                .slots
                .entry(Address::from(address))
                .or_default()
                .insert(U256::from_be_bytes(slot), U256::from_be_bytes(value));
        }
        let (_, Json(head)) = storage
            .last::<Blocks>()?
            .ok_or_else(|| EmbeddedError::Corrupt("a chain id but no block".into()))?;
        tracing::info!(head = head.header.number, hash = %head.hash, "embedded chain: reopened");
        Ok(State { world, head })
    }

    /// Re-admits the transactions accepted but not mined before a restart; those the rules
    /// now refuse are forgotten. The rows are read at once: there are at most
    /// [`EmbeddedConfig::pool_capacity`] of them (each is a pooled transaction's, deleted
    /// when it leaves the pool), each at most [`EmbeddedConfig::max_tx_size`] bytes.
    fn reload_pending(&self) -> Result<(), EmbeddedError> {
        let stored = self.inner.storage.scan::<Pending>()?;
        let mut refused = WriteBatch::new();
        for (hash, raw) in stored {
            if let Err(e) = self.admit(&raw, false) {
                tracing::warn!(tx = %B256::from(hash), error = %e, "pending transaction refused on reload");
                refused.delete::<Pending>(&hash);
            }
        }
        if !refused.is_empty() {
            self.inner.storage.commit(refused)?;
        }
        Ok(())
    }

    /// How many handles share this chain (clones, the miner, the server's tasks).
    pub(crate) fn shared_handles(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    /// The configuration.
    pub fn config(&self) -> &EmbeddedConfig {
        &self.inner.config
    }

    /// The EIP-155 chain id.
    pub fn chain_id(&self) -> u64 {
        self.inner.config.chain_id
    }

    /// The funded dev accounts, with their keys.
    pub fn dev_accounts(&self) -> &[DevAccount] {
        &self.inner.dev
    }

    /// Whether the verifier precompile is installed.
    pub fn verifies_proofs(&self) -> bool {
        self.inner.config.verifier.is_some()
    }

    pub(crate) fn state(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest block.
    pub fn head(&self) -> BlockRef {
        block_ref(&self.state().head)
    }

    /// The base fee the next block will have.
    pub fn next_base_fee(&self) -> u64 {
        let head = &self.state().head.header;
        next_base_fee(
            head.base_fee_per_gas.unwrap_or_default(),
            head.gas_used,
            head.gas_limit,
        )
    }

    /// The tip to offer: [`SUGGESTED_TIP`]. Tips go to the zero address here, so only the
    /// order within a block depends on them.
    pub fn suggested_tip(&self) -> u128 {
        SUGGESTED_TIP
    }

    /// The number of a block id; `None` when no such block exists.
    pub fn block_number(&self, id: BlockId) -> Result<Option<u64>, ChainError> {
        Ok(match id {
            BlockId::Tag(_) => Some(self.state().head.header.number),
            BlockId::Number(n) => (n <= self.state().head.header.number).then_some(n),
            BlockId::Hash(h) => self
                .inner
                .storage
                .get::<BlockHashes>(&h.0)
                .map_err(storage_err)?,
        })
    }

    pub(crate) fn stored_block(&self, id: BlockId) -> Result<Option<StoredBlock>, ChainError> {
        if let BlockId::Tag(_) = id {
            return Ok(Some(self.state().head.clone()));
        }
        let Some(number) = self.block_number(id)? else {
            return Ok(None);
        };
        Ok(self
            .inner
            .storage
            .get::<Blocks>(&number)
            .map_err(storage_err)?
            .map(|b| b.0))
    }

    /// A block by number, hash or tag (every tag names the head: blocks are final when
    /// made).
    pub fn block(&self, id: BlockId) -> Result<Option<BlockRef>, ChainError> {
        Ok(self.stored_block(id)?.as_ref().map(block_ref))
    }

    /// Refuses a state read at any block but the head.
    fn check_latest(&self, at: BlockId, head: &StoredBlock) -> Result<(), ChainError> {
        let is_head = match at {
            BlockId::Tag(_) => true,
            BlockId::Number(n) => {
                if n > head.header.number {
                    return Err(ChainError::NotFound(format!("block {n}")));
                }
                n == head.header.number
            }
            BlockId::Hash(h) => {
                if h != head.hash && self.block_number(at)?.is_none() {
                    return Err(ChainError::NotFound(format!("block {h}")));
                }
                h == head.hash
            }
        };
        if is_head {
            Ok(())
        } else {
            Err(EmbeddedError::HistoricalState(at).into())
        }
    }

    /// The balance of `account` at `at` (the head only).
    pub fn balance(&self, account: Address, at: BlockId) -> Result<U256, ChainError> {
        let state = self.state();
        self.check_latest(at, &state.head)?;
        Ok(state.world.account(&account).balance)
    }

    /// The nonce of `account` at `at` (the head only): how many transactions it sent.
    pub fn nonce(&self, account: Address, at: BlockId) -> Result<u64, ChainError> {
        let state = self.state();
        self.check_latest(at, &state.head)?;
        Ok(state.world.account(&account).nonce)
    }

    /// The nonce `account`'s next transaction should use, counting its pooled ones.
    pub fn pending_nonce(&self, account: Address) -> u64 {
        let pool = lock(&self.inner.pool);
        let nonce = self.state().world.account(&account).nonce;
        pool.pending_nonce(account, nonce)
    }

    /// The code of `account` at `at` (the head only).
    pub fn code(&self, account: Address, at: BlockId) -> Result<Bytes, ChainError> {
        let state = self.state();
        self.check_latest(at, &state.head)?;
        Ok(state.world.code_of(&account))
    }

    /// Storage slot `slot` of `account` at `at` (the head only).
    pub fn storage_at(
        &self,
        account: Address,
        slot: U256,
        at: BlockId,
    ) -> Result<U256, ChainError> {
        let state = self.state();
        self.check_latest(at, &state.head)?;
        Ok(state.world.slot(&account, &slot))
    }

    /// How many transactions wait in the pool.
    pub fn pool_len(&self) -> usize {
        lock(&self.inner.pool).len()
    }

    /// Runs `call` on the head's state, in the next block's environment, and returns the
    /// raw result.
    fn execute_call(&self, call: &Call, gas: u64) -> Result<ExecutionResult, ChainError> {
        let state = self.state();
        let head = &state.head.header;
        let env = Env {
            chain_id: self.chain_id(),
            block: evm::block_env(
                head.number + 1,
                now_secs().max(head.timestamp),
                self.inner.config.block_gas_limit,
                // Calls are free: a zero base fee lets them run at gas price zero.
                0,
            ),
            call: true,
        };
        let mut db = CacheDB::new(WorldDb {
            world: &state.world,
            storage: &*self.inner.storage,
        });
        let mut evm = evm::build(&mut db, &env, self.inner.precompiles.clone());
        let kind = call.to.map_or(TxKind::Create, TxKind::Call);
        let tx = evm::call_env(
            call.from.unwrap_or_default(),
            kind,
            call.input.clone(),
            call.value,
            gas,
        );
        evm.transact(tx).map(|r| r.result).map_err(|e| match e {
            EVMError::Transaction(e) => EmbeddedError::Invalid(e.to_string()).into(),
            other => EmbeddedError::Evm(other.to_string()).into(),
        })
    }

    /// The gas a call runs with: what it asks, at most the block gas limit and
    /// [`EmbeddedConfig::rpc_gas_cap`].
    fn call_gas(&self, call: &Call) -> u64 {
        let config = &self.inner.config;
        let cap = config.block_gas_limit.min(config.rpc_gas_cap);
        call.gas.unwrap_or(cap).min(cap)
    }

    /// The output of `call` at `at` (the head only); a revert is [`ChainError::Reverted`]
    /// with the revert data, a halt (out of gas, invalid opcode) one without.
    pub fn call(&self, call: &Call, at: BlockId) -> Result<Bytes, ChainError> {
        self.check_latest(at, &self.state().head)?;
        match self.execute_call(call, self.call_gas(call))? {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            other => Err(failure(other)),
        }
    }

    /// The gas `call` needs as a transaction: a gas limit it succeeds with (within the
    /// block gas limit and [`EmbeddedConfig::rpc_gas_cap`]), found from what it used and a
    /// search when the 63/64 rule or refunds make that too little. At most
    /// [`MAX_ESTIMATE_RUNS`] executions: the search stops within 1/64 above the least.
    pub fn estimate_gas(&self, call: &Call) -> Result<u64, ChainError> {
        let cap = self.call_gas(call);
        let used = match self.execute_call(call, cap)? {
            r @ ExecutionResult::Success { .. } => r.tx_gas_used(),
            other => return Err(failure(other)),
        };
        let runs = std::cell::Cell::new(1u32);
        let succeeds = |gas: u64| -> Result<bool, ChainError> {
            runs.set(runs.get() + 1);
            Ok(self.execute_call(call, gas)?.is_success())
        };
        // Most calls succeed with what they used; nested calls need up to 64/63 of it per
        // level, and refunds were subtracted: try a margin before searching.
        if succeeds(used)? {
            return Ok(used);
        }
        let mut hi = (used.saturating_mul(64) / 63 + 10_000).min(cap);
        if !succeeds(hi)? {
            hi = cap;
        }
        let mut lo = used;
        // `hi` always succeeds: stopping early over-estimates a little, never under.
        while hi - lo > 1 && hi - lo > hi / 64 && runs.get() < MAX_ESTIMATE_RUNS {
            let mid = lo + (hi - lo) / 2;
            if succeeds(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    /// Checks a raw transaction and puts it in the pool; returns its hash. What it
    /// replaces or evicts leaves the persisted pool in the same commit that, when
    /// `persist`, adds it; memory changes only once that commit is done, so a refused or
    /// failed admission changes nothing.
    fn admit(&self, raw: &[u8], persist: bool) -> Result<B256, ChainError> {
        let config = &self.inner.config;
        // Before any decoding or signature recovery: bounded work for any bytes.
        if raw.len() > config.max_tx_size {
            return Err(EmbeddedError::TxTooLarge {
                size: raw.len(),
                max: config.max_tx_size,
            }
            .into());
        }
        let (envelope, sender) = decode_tx(raw)?;
        match envelope.chain_id() {
            Some(id) if id != self.chain_id() => {
                return Err(EmbeddedError::WrongChainId {
                    tx: id,
                    chain: self.chain_id(),
                }
                .into())
            }
            // Pre-EIP-155: valid on every chain, so replayable from any of them.
            None if !config.allow_unprotected_txs => return Err(EmbeddedError::Unprotected.into()),
            _ => {}
        }
        let hash = *envelope.tx_hash();
        let mut pool = lock(&self.inner.pool);
        if pool.contains(&hash)
            || self
                .inner
                .storage
                .get::<Txs>(&hash.0)
                .map_err(storage_err)?
                .is_some()
        {
            return Err(ChainError::AlreadyKnown);
        }
        let tx = PoolTx {
            hash,
            envelope,
            raw: Bytes::copy_from_slice(raw),
            sender,
            admitted: Instant::now(),
        };
        let admission = {
            let state = self.state();
            let head = &state.head.header;
            let account = state.world.account(&sender);
            pool.check(
                &tx,
                SenderState {
                    nonce: account.nonce,
                    balance: account.balance,
                },
                next_base_fee(
                    head.base_fee_per_gas.unwrap_or_default(),
                    head.gas_used,
                    head.gas_limit,
                ),
                config.block_gas_limit,
                |a| state.world.account(&a).nonce,
            )?
        };
        let mut batch = WriteBatch::new();
        if persist {
            batch.put::<Pending>(&hash.0, &raw.to_vec());
        }
        for removed in admission.removed() {
            batch.delete::<Pending>(&removed.0);
        }
        if !batch.is_empty() {
            self.inner.storage.commit(batch).map_err(storage_err)?;
        }
        pool.apply(tx, &admission);
        let mut dropped = lock(&self.inner.dropped);
        // Sent again after a drop: what happens now is what counts.
        dropped.forget(&hash);
        if let Admission {
            evicted: Some(evicted),
            ..
        } = admission
        {
            tracing::debug!(tx = %evicted, by = %hash, "embedded chain: evicted from the full pool");
            dropped.record(evicted, "evicted from the full pool".into());
        }
        Ok(hash)
    }

    /// Accepts a signed EIP-2718 transaction (legacy, EIP-2930 or EIP-1559) into the pool
    /// and returns its hash. It is persisted before this returns, so a restart keeps it;
    /// in [`BlockTime::Instant`] mode it is mined first, and persisted only if it still
    /// waits (a nonce gap), and a transaction the EVM refuses then is an error.
    pub fn send_raw(&self, raw: &[u8]) -> Result<B256, ChainError> {
        match self.inner.config.block_time {
            BlockTime::Instant => {
                let hash = self.admit(raw, false)?;
                self.mine()?;
                if let Some(reason) = lock(&self.inner.dropped).reasons.get(&hash) {
                    return Err(EmbeddedError::Invalid(reason.clone()).into());
                }
                // Still waiting (a nonce gap, or no room left in the block): persisted now,
                // under the pool lock, so that no block takes it meanwhile and leaves a
                // row behind.
                let mut pool = lock(&self.inner.pool);
                if pool.contains(&hash) {
                    let mut batch = WriteBatch::new();
                    batch.put::<Pending>(&hash.0, &raw.to_vec());
                    if let Err(e) = self.inner.storage.commit(batch) {
                        pool.remove(&hash);
                        return Err(storage_err(e));
                    }
                }
                tracing::debug!(tx = %hash, "embedded chain: transaction accepted");
                Ok(hash)
            }
            BlockTime::Every(_) => {
                let hash = self.admit(raw, true)?;
                tracing::debug!(tx = %hash, "embedded chain: transaction accepted");
                Ok(hash)
            }
        }
    }

    /// Where a transaction stands.
    pub fn tx_status(&self, hash: B256) -> Result<TxStatus, ChainError> {
        if lock(&self.inner.pool).contains(&hash) {
            return Ok(TxStatus::Pending);
        }
        if let Some(r) = self.stored_receipt(hash)? {
            return Ok(TxStatus::Mined {
                block_number: r.block_number,
                block_hash: r.block_hash,
                success: r.success,
            });
        }
        if lock(&self.inner.dropped).reasons.contains_key(&hash) {
            return Ok(TxStatus::Dropped);
        }
        Ok(TxStatus::Unknown)
    }

    pub(crate) fn stored_receipt(&self, hash: B256) -> Result<Option<StoredReceipt>, ChainError> {
        Ok(self
            .inner
            .storage
            .get::<Receipts>(&hash.0)
            .map_err(storage_err)?
            .map(|r| r.0))
    }

    pub(crate) fn stored_tx(&self, hash: B256) -> Result<Option<StoredTx>, ChainError> {
        Ok(self
            .inner
            .storage
            .get::<Txs>(&hash.0)
            .map_err(storage_err)?
            .map(|r| r.0))
    }

    pub(crate) fn pooled(&self, hash: &B256) -> Option<PoolTx> {
        lock(&self.inner.pool).get(hash).cloned()
    }

    /// The receipt of a mined transaction.
    pub fn receipt(&self, hash: B256) -> Result<Option<Receipt>, ChainError> {
        Ok(self.stored_receipt(hash)?.map(|r| Receipt {
            tx_hash: r.tx_hash,
            success: r.success,
            block_number: r.block_number,
            block_hash: r.block_hash,
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            contract_address: r.contract_address,
            logs: r
                .logs
                .iter()
                .enumerate()
                .map(|(i, l)| Log {
                    address: l.address,
                    topics: l.topics().to_vec(),
                    data: l.data.data.clone(),
                    block_number: r.block_number,
                    block_hash: r.block_hash,
                    tx_hash: r.tx_hash,
                    log_index: r.first_log_index + i as u64,
                })
                .collect(),
        }))
    }

    /// The logs of blocks `from..=to` (bounded by the head), block by block; only blocks
    /// with logs are read.
    pub(crate) fn block_logs(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, StoredBlockLogs)>, ChainError> {
        let to = to.min(self.state().head.header.number);
        if from > to {
            return Ok(Vec::new());
        }
        Ok(self
            .inner
            .storage
            .range::<BlockLogs>(from..=to, Order::Ascending, None)
            .map_err(storage_err)?
            .into_iter()
            .map(|(n, l)| (n, l.0))
            .collect())
    }

    /// The logs `filter` selects, by block then log index.
    pub fn logs(&self, filter: &LogFilter) -> Result<Vec<Log>, ChainError> {
        let mut out = Vec::new();
        for (number, block) in self.block_logs(filter.from_block, filter.to_block)? {
            for l in block.logs {
                let log = Log {
                    address: l.log.address,
                    topics: l.log.topics().to_vec(),
                    data: l.log.data.data.clone(),
                    block_number: number,
                    block_hash: block.block_hash,
                    tx_hash: l.tx_hash,
                    log_index: l.log_index,
                };
                if filter.matches(&log) {
                    out.push(log);
                }
            }
        }
        Ok(out)
    }

    /// Mines one block of what the pool holds (possibly none) and commits it, state and
    /// all, in one batch. Transactions the EVM refuses are dropped from the pool.
    pub fn mine(&self) -> Result<BlockRef, EmbeddedError> {
        let inner = &*self.inner;
        let mut pool = lock(&inner.pool);
        let mut state = self.state_mut();
        let parent = state.head.clone();
        let number = parent.header.number + 1;
        let base_fee = next_base_fee(
            parent.header.base_fee_per_gas.unwrap_or_default(),
            parent.header.gas_used,
            parent.header.gas_limit,
        );
        // Never before the parent, and no drift ahead of the clock when blocks come faster
        // than one a second (so contracts' notice periods follow wall time).
        let timestamp = now_secs().max(parent.header.timestamp);
        let gas_limit = inner.config.block_gas_limit;
        let env = Env {
            chain_id: inner.config.chain_id,
            block: evm::block_env(number, timestamp, gas_limit, base_fee),
            call: false,
        };
        let order = pool.select(|a| state.world.account(&a).nonce, base_fee);
        // What no block could take now (a nonce gap, a max fee below the base fee) leaves
        // once it has waited `pool_lifetime`: such transactions would otherwise stay for
        // ever, holding pool room.
        let selected: HashSet<B256> = order.iter().copied().collect();
        let now = Instant::now();
        let expired: Vec<(B256, String)> = pool
            .iter()
            .filter(|t| {
                !selected.contains(&t.hash)
                    && now.duration_since(t.admitted) >= inner.config.pool_lifetime
            })
            .map(|t| {
                (
                    t.hash,
                    format!(
                        "expired: waited {:?} with a nonce gap or a max fee below the base fee",
                        inner.config.pool_lifetime
                    ),
                )
            })
            .collect();

        let mut db = CacheDB::new(WorldDb {
            world: &state.world,
            storage: &*inner.storage,
        });
        let mut included: Vec<(PoolTx, ExecutionResult)> = Vec::new();
        let mut dropped: Vec<(B256, String)> = Vec::new();
        let mut waiting: HashSet<Address> = HashSet::new();
        let mut gas_used = 0u64;
        {
            let mut evm = evm::build(&mut db, &env, inner.precompiles.clone());
            for hash in order {
                let tx = pool.get(&hash).expect("selected from the pool");
                if waiting.contains(&tx.sender) {
                    continue;
                }
                if gas_used + tx.gas_limit() > gas_limit {
                    // Its later nonces wait with it for the next block.
                    waiting.insert(tx.sender);
                    continue;
                }
                match evm.transact_commit(evm::tx_env(&tx.envelope, tx.sender)) {
                    Ok(result) => {
                        gas_used += result.tx_gas_used();
                        included.push((tx.clone(), result));
                    }
                    Err(EVMError::Transaction(e)) => {
                        dropped.push((hash, e.to_string()));
                        waiting.insert(tx.sender);
                    }
                    Err(e) => return Err(EmbeddedError::Evm(e.to_string())),
                }
            }
        }
        let diff = Diff::from_cache(&db, &state.world);
        drop(db);

        // Receipts, logs and the header.
        let mut receipts = Vec::with_capacity(included.len());
        let mut envelopes = Vec::with_capacity(included.len());
        let mut block_logs = Vec::new();
        let mut cumulative = 0u64;
        let mut bloom = Bloom::default();
        for (index, (tx, result)) in included.iter().enumerate() {
            let success = result.is_success();
            // A reverted transaction's logs are discarded with its other effects.
            let logs: Vec<PrimitiveLog> = if success {
                result.logs().to_vec()
            } else {
                Vec::new()
            };
            let gas = result.tx_gas_used();
            cumulative += gas;
            let tx_bloom = logs_bloom(logs.iter());
            bloom.accrue_bloom(&tx_bloom);
            let contract_address = match (tx.envelope.kind(), result) {
                (
                    TxKind::Create,
                    ExecutionResult::Success {
                        output: Output::Create(_, Some(a)),
                        ..
                    },
                ) => Some(*a),
                (TxKind::Create, _) => Some(tx.sender.create(tx.nonce())),
                _ => None,
            };
            let first_log_index = block_logs.len() as u64;
            for (i, log) in logs.iter().enumerate() {
                block_logs.push(StoredLog {
                    log: log.clone(),
                    tx_hash: tx.hash,
                    tx_index: index as u64,
                    log_index: first_log_index + i as u64,
                });
            }
            receipts.push(StoredReceipt {
                tx_hash: tx.hash,
                tx_index: index as u64,
                tx_type: tx.envelope.tx_type() as u8,
                block_number: number,
                block_hash: B256::ZERO, // set once the header is hashed
                block_timestamp: timestamp,
                from: tx.sender,
                to: tx.envelope.to(),
                contract_address,
                success,
                gas_used: gas,
                cumulative_gas_used: cumulative,
                effective_gas_price: tx.envelope.effective_gas_price(Some(base_fee)),
                first_log_index,
                logs,
            });
            envelopes.push(tx.envelope.clone());
        }
        let receipt_envelopes: Vec<ReceiptEnvelope<PrimitiveLog>> = receipts
            .iter()
            .map(|r| {
                let bloom = logs_bloom(r.logs.iter());
                receipt_envelope(
                    r.tx_type,
                    r.success,
                    r.cumulative_gas_used,
                    r.logs.clone(),
                    bloom,
                )
            })
            .collect();
        let header = Header {
            parent_hash: parent.hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            transactions_root: calculate_transaction_root(&envelopes),
            receipts_root: calculate_receipt_root(&receipt_envelopes),
            logs_bloom: bloom,
            number,
            gas_limit,
            gas_used: cumulative,
            timestamp,
            mix_hash: env.block.prevrandao.unwrap_or_default(),
            base_fee_per_gas: Some(base_fee),
            ..Header::default()
        };
        let block = StoredBlock {
            hash: header.hash_slow(),
            header,
            transactions: included.iter().map(|(tx, _)| tx.hash).collect(),
        };

        // Transactions whose nonce the block used up, by another transaction.
        let mut new_nonces: HashMap<Address, u64> = HashMap::new();
        for (tx, _) in &included {
            let nonce = diff
                .accounts
                .iter()
                .find(|(a, _)| *a == tx.sender)
                .and_then(|(_, r)| r.map(|r| r.nonce))
                .unwrap_or(tx.nonce() + 1);
            new_nonces.insert(tx.sender, nonce);
        }

        let mut batch = WriteBatch::new();
        diff.write(&state.world, &mut batch);
        batch.put::<Blocks>(&number, &Json(block.clone()));
        batch.put::<BlockHashes>(&block.hash.0, &number);
        for (index, ((tx, _), receipt)) in included.iter().zip(&mut receipts).enumerate() {
            receipt.block_hash = block.hash;
            batch.put::<Txs>(
                &tx.hash.0,
                &Json(StoredTx {
                    raw: tx.raw.clone(),
                    sender: tx.sender,
                    block_number: number,
                    block_hash: block.hash,
                    index: index as u64,
                }),
            );
            batch.put::<Receipts>(&tx.hash.0, &Json(receipt.clone()));
            batch.delete::<Pending>(&tx.hash.0);
        }
        if !block_logs.is_empty() {
            batch.put::<BlockLogs>(
                &number,
                &Json(StoredBlockLogs {
                    block_hash: block.hash,
                    timestamp,
                    logs: block_logs,
                }),
            );
        }
        let mut stale: Vec<(B256, String)> = Vec::new();
        for (sender, nonce) in &new_nonces {
            for tx in pool
                .iter()
                .filter(|t| t.sender == *sender && t.nonce() < *nonce)
            {
                if !block.transactions.contains(&tx.hash) {
                    stale.push((tx.hash, format!("nonce too low: next nonce {nonce}")));
                }
            }
        }
        for (hash, _) in dropped.iter().chain(&stale).chain(&expired) {
            batch.delete::<Pending>(&hash.0);
        }
        inner.storage.commit(batch)?;

        // Committed: now memory follows.
        diff.apply(&mut state.world);
        state.head = block.clone();
        drop(state);
        let mut forgotten = lock(&inner.dropped);
        for (tx, _) in &included {
            pool.remove(&tx.hash);
            forgotten.forget(&tx.hash);
        }
        for (hash, reason) in dropped.into_iter().chain(stale).chain(expired) {
            tracing::debug!(tx = %hash, %reason, "embedded chain: transaction dropped");
            pool.remove(&hash);
            forgotten.record(hash, reason);
        }
        for (sender, nonce) in new_nonces {
            pool.remove_stale(sender, nonce);
        }
        tracing::debug!(number, hash = %block.hash, txs = block.transactions.len(), "embedded chain: block");
        Ok(block_ref(&block))
    }

    /// Starts mining every period of [`BlockTime::Every`] on a thread of its own;
    /// `None` in [`BlockTime::Instant`] mode. Mining stops when the handle is dropped.
    pub fn start_miner(&self) -> Option<MinerHandle> {
        let BlockTime::Every(period) = self.inner.config.block_time else {
            return None;
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let chain = self.clone();
        let thread = std::thread::Builder::new()
            .name("embedded-miner".into())
            .spawn(move || loop {
                match stopped.recv_timeout(period) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Err(e) = chain.mine() {
                            tracing::error!(error = %e, "embedded chain: mining failed");
                        }
                    }
                    // A stop message or a dropped handle.
                    _ => return,
                }
            })
            .expect("spawning the miner thread");
        Some(MinerHandle {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// The error of a call that did not succeed.
fn failure(result: ExecutionResult) -> ChainError {
    match result {
        ExecutionResult::Revert { output, .. } => ChainError::Reverted {
            tx: None,
            reason: revert_reason(&output),
            data: output,
        },
        ExecutionResult::Halt { reason, .. } => ChainError::Reverted {
            tx: None,
            reason: Some(halt_reason(&reason)),
            data: Bytes::new(),
        },
        ExecutionResult::Success { .. } => unreachable!("only failures are mapped"),
    }
}

fn halt_reason(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        other => format!("{other:?}"),
    }
}

/// The message of a Solidity `Error(string)` revert.
pub(crate) fn revert_reason(data: &[u8]) -> Option<String> {
    const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    if data.len() < 4 + 64 || data[..4] != ERROR_SELECTOR {
        return None;
    }
    let body = &data[4..];
    let len = U256::from_be_slice(&body[32..64]);
    let len = usize::try_from(len).ok()?;
    let text = body.get(64..64usize.checked_add(len)?)?;
    String::from_utf8(text.to_vec()).ok()
}

/// Keeps the miner thread of [`EmbeddedChain::start_miner`] running; dropping it stops
/// the thread and waits for the block in progress.
#[derive(Debug)]
pub struct MinerHandle {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for MinerHandle {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy_consensus::{TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use manyfold_storage::MemoryStorage;

    use super::*;

    const CHAIN_ID: u64 = 4242;

    fn transfer(from: &DevAccount, nonce: u64, max_fee: u128, tip: u128) -> Bytes {
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::repeat_byte(0x42)),
            value: U256::from(1u64),
            ..Default::default()
        };
        TxEnvelope::from(from.sign(tx)).encoded_2718().into()
    }

    fn pending_rows(storage: &dyn Storage) -> Vec<B256> {
        let mut rows: Vec<B256> = storage
            .scan::<Pending>()
            .unwrap()
            .into_iter()
            .map(|(h, _)| B256::from(h))
            .collect();
        rows.sort();
        rows
    }

    fn timed() -> EmbeddedConfig {
        EmbeddedConfig::new(CHAIN_ID).with_block_time(BlockTime::Every(Duration::from_secs(3600)))
    }

    #[test]
    fn a_replaced_transaction_leaves_the_persisted_pool() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let chain = EmbeddedChain::open(storage.clone(), timed()).unwrap();
        let a = chain.dev_accounts()[0].clone();
        let gwei = 1_000_000_000;
        let first = chain.send_raw(&transfer(&a, 0, 10 * gwei, gwei)).unwrap();
        let second = chain
            .send_raw(&transfer(&a, 0, 20 * gwei, 2 * gwei))
            .unwrap();
        assert_eq!(
            pending_rows(&*storage),
            vec![second],
            "one row: the replacement's"
        );
        drop(chain);
        let chain = EmbeddedChain::open(storage.clone(), timed()).unwrap();
        assert_eq!(chain.pool_len(), 1);
        assert_eq!(chain.tx_status(second).unwrap(), TxStatus::Pending);
        assert_ne!(chain.tx_status(first).unwrap(), TxStatus::Pending);
    }

    #[test]
    fn evicted_and_expired_transactions_leave_the_persisted_pool() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut config = timed();
        config.pool_capacity = 2;
        let chain = EmbeddedChain::open(storage.clone(), config.clone()).unwrap();
        let (a, b) = (
            chain.dev_accounts()[0].clone(),
            chain.dev_accounts()[1].clone(),
        );
        let gwei = 1_000_000_000;
        let a2 = chain.send_raw(&transfer(&a, 2, 10 * gwei, gwei)).unwrap();
        let a3 = chain.send_raw(&transfer(&a, 3, 10 * gwei, gwei)).unwrap();
        let b0 = chain.send_raw(&transfer(&b, 0, 10 * gwei, gwei)).unwrap();
        assert_eq!(chain.tx_status(a3).unwrap(), TxStatus::Dropped, "evicted");
        let mut expected = vec![a2, b0];
        expected.sort();
        assert_eq!(pending_rows(&*storage), expected);
        drop(chain);

        // With no lifetime, the next block drops the gapped one, row and all.
        config.pool_lifetime = Duration::ZERO;
        let chain = EmbeddedChain::open(storage.clone(), config.clone()).unwrap();
        chain.mine().unwrap();
        assert!(matches!(
            chain.tx_status(b0).unwrap(),
            TxStatus::Mined { .. }
        ));
        assert_eq!(chain.tx_status(a2).unwrap(), TxStatus::Dropped, "expired");
        assert_eq!(chain.pool_len(), 0);
        assert!(pending_rows(&*storage).is_empty());
    }
}
