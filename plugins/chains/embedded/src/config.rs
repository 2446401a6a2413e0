//! The engine's configuration.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use manyfold_prover::PinnedVk;

/// The well-known development mnemonic of Hardhat and anvil. Its keys are public: anyone
/// can spend what its accounts hold on any chain. Never fund them anywhere but a devnet.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// When blocks are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTime {
    /// One block right after each accepted transaction (anvil's automine).
    Instant,
    /// One block every period, empty or not, on the miner thread
    /// ([`crate::EmbeddedChain::start_miner`]).
    Every(Duration),
}

impl BlockTime {
    /// `0` is [`BlockTime::Instant`], anything else a period of that many milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        if ms == 0 {
            Self::Instant
        } else {
            Self::Every(Duration::from_millis(ms))
        }
    }
}

/// Everything [`crate::EmbeddedChain::open`] needs besides its storage.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The EIP-155 chain id. A store made under another id is refused at open.
    pub chain_id: u64,
    /// When blocks are made.
    pub block_time: BlockTime,
    /// The gas limit of every block; a transaction above it is refused. Default 30,000,000.
    pub block_gas_limit: u64,
    /// The genesis block's base fee in wei. Default 1 gwei.
    pub initial_base_fee: u64,
    /// How many dev accounts genesis funds. Default 10.
    pub dev_accounts: u32,
    /// What genesis gives each dev account, in wei. Default 10,000 ETH.
    pub dev_balance: U256,
    /// The BIP-39 mnemonic the dev accounts derive from (path `m/44'/60'/0'/0/i`). Default
    /// [`DEV_MNEMONIC`], whose keys are public.
    pub mnemonic: String,
    /// The most transactions the pool holds. When it is full, a newcomer evicts the
    /// worst-priced transaction that the next block could not take (a nonce gap, or a max
    /// fee below the base fee) if it is executable or pays more; else it is refused
    /// (`txpool is full`). Default 4096.
    pub pool_capacity: usize,
    /// The most transactions one sender may have in the pool (`txpool: too many
    /// transactions from sender`), so that one key cannot fill it. Default 16, above the
    /// node's own sender's `max_in_flight` (4).
    pub max_txs_per_sender: usize,
    /// How far ahead of its account's nonce a transaction's nonce may be: at most
    /// `account nonce + max_nonce_ahead - 1`; beyond, `nonce too high`. Bounds the gaps
    /// one sender can park in the pool. Default 16.
    pub max_nonce_ahead: u64,
    /// How long a pooled transaction may wait while no block can take it (a nonce gap, a
    /// max fee below the base fee): a block made later drops it (`TxStatus::Dropped`). The
    /// time counts from admission (or from the reload after a restart). Default 10 minutes.
    pub pool_lifetime: Duration,
    /// The largest signed transaction accepted, in bytes (`oversized data`). Default
    /// 128 KiB, geth's; a `proveBlocks` with its proof is well below.
    pub max_tx_size: usize,
    /// Whether legacy transactions without a chain id (pre-EIP-155) are accepted. They
    /// can be replayed from any other chain where the same key signed them, so they are
    /// refused by default (geth's `--rpc.allow-unprotected-txs`).
    pub allow_unprotected_txs: bool,
    /// The most gas one `eth_call` or `eth_estimateGas` execution may use; a larger gas
    /// limit is lowered to it. It bounds the CPU one RPC request costs: an estimate runs
    /// at most [`crate::MAX_ESTIMATE_RUNS`] executions of at most this much gas. Default
    /// the block gas limit ([`EmbeddedConfig::new`] sets 30,000,000).
    pub rpc_gas_cap: u64,
    /// The most blocks one `eth_getLogs` may span (`query exceeds max block range N`).
    /// Default 10,000.
    pub max_logs_block_range: u64,
    /// The most logs one `eth_getLogs` may return (`query returned more than N
    /// results`). Default 10,000. Clients (the evm plugin among them) split the range on
    /// either error.
    pub max_logs_results: usize,
    /// The most reward percentiles one `eth_feeHistory` may ask for, as geth. Default 100.
    pub max_fee_history_percentiles: usize,
    /// The pinned verifying key of the verifier precompile; `None` runs Ethereum's
    /// precompiles only, and the chain cannot be the primary.
    pub verifier: Option<Arc<PinnedVk>>,
}

/// 10,000 ETH in wei.
fn ten_thousand_eth() -> U256 {
    U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

impl EmbeddedConfig {
    /// The defaults, with chain id `chain_id`.
    pub fn new(chain_id: u64) -> Self {
        Self {
            chain_id,
            block_time: BlockTime::Instant,
            block_gas_limit: 30_000_000,
            initial_base_fee: 1_000_000_000,
            dev_accounts: 10,
            dev_balance: ten_thousand_eth(),
            mnemonic: DEV_MNEMONIC.to_owned(),
            pool_capacity: 4096,
            max_txs_per_sender: 16,
            max_nonce_ahead: 16,
            pool_lifetime: Duration::from_secs(600),
            max_tx_size: 128 * 1024,
            allow_unprotected_txs: false,
            rpc_gas_cap: 30_000_000,
            max_logs_block_range: 10_000,
            max_logs_results: 10_000,
            max_fee_history_percentiles: 100,
            verifier: None,
        }
    }

    /// This config with `block_time`.
    pub fn with_block_time(mut self, block_time: BlockTime) -> Self {
        self.block_time = block_time;
        self
    }

    /// This config with the verifier precompile pinned to `vk`.
    pub fn with_verifier(mut self, vk: Arc<PinnedVk>) -> Self {
        self.verifier = Some(vk);
        self
    }
}
