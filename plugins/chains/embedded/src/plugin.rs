//! The embedded chain as a Manyfold chain plugin: [`manyfold_chain::Chain`] and its
//! factory.

use std::net::SocketAddr;
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use manyfold_chain::{
    BlockId, BlockRef, Capabilities, Chain, ChainFactory, ChainFees, ChainFuture, ChainReader,
    ChainSender, ChainSpec, ConfigError, FeeEstimate, Finality, Log, LogFilter, PluginSection,
    Receipt, TxStatus,
};
use manyfold_prover::PinnedVk;
use manyfold_storage::Storage;

use crate::chain::{Call, EmbeddedChain};
use crate::config::{BlockTime, EmbeddedConfig, DEV_MNEMONIC};

// The engine is synchronous and fast (memory and keyed reads); its futures are ready at
// once. Mining in instant mode and calls of the verifier precompile take longer, but are
// bounded by one block's work.
impl ChainReader for EmbeddedChain {
    fn chain_id(&self) -> ChainFuture<'_, u64> {
        let id = EmbeddedChain::chain_id(self);
        Box::pin(async move { Ok(id) })
    }

    fn block(&self, id: BlockId) -> ChainFuture<'_, Option<BlockRef>> {
        Box::pin(async move { EmbeddedChain::block(self, id) })
    }

    fn logs(&self, filter: LogFilter) -> ChainFuture<'_, Vec<Log>> {
        Box::pin(async move { EmbeddedChain::logs(self, &filter) })
    }

    fn call(&self, call: manyfold_chain::CallRequest, at: BlockId) -> ChainFuture<'_, Bytes> {
        Box::pin(async move { EmbeddedChain::call(self, &Call::from(&call), at) })
    }

    fn receipt(&self, tx: B256) -> ChainFuture<'_, Option<Receipt>> {
        Box::pin(async move { EmbeddedChain::receipt(self, tx) })
    }

    fn nonce(&self, account: Address, at: BlockId) -> ChainFuture<'_, u64> {
        Box::pin(async move { EmbeddedChain::nonce(self, account, at) })
    }

    fn balance(&self, account: Address, at: BlockId) -> ChainFuture<'_, U256> {
        Box::pin(async move { EmbeddedChain::balance(self, account, at) })
    }
}

impl ChainFees for EmbeddedChain {
    fn estimate_fees(&self) -> ChainFuture<'_, FeeEstimate> {
        Box::pin(async move {
            let base = u128::from(self.next_base_fee());
            let tip = self.suggested_tip();
            Ok(FeeEstimate {
                base_fee_per_gas: base,
                // Room for the base fee to double before the transaction is mined.
                max_fee_per_gas: 2 * base + tip,
                max_priority_fee_per_gas: tip,
            })
        })
    }

    fn estimate_gas(&self, call: manyfold_chain::CallRequest) -> ChainFuture<'_, u64> {
        Box::pin(async move { EmbeddedChain::estimate_gas(self, &Call::from(&call)) })
    }
}

impl ChainSender for EmbeddedChain {
    fn send_raw(&self, signed: Bytes) -> ChainFuture<'_, B256> {
        Box::pin(async move { EmbeddedChain::send_raw(self, &signed) })
    }

    fn tx_status(&self, tx: B256) -> ChainFuture<'_, TxStatus> {
        Box::pin(async move { EmbeddedChain::tx_status(self, tx) })
    }
}

impl Chain for EmbeddedChain {
    fn capabilities(&self) -> Capabilities {
        if self.verifies_proofs() {
            Capabilities::NONE.with_proof_verification()
        } else {
            Capabilities::NONE
        }
    }
}

/// The plugin's own keys of a `[chains.NAME]` section, as the factory read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginKeys {
    /// `chain_id`: the EIP-155 chain id. Default 31337.
    pub chain_id: u64,
    /// `block_time_ms`: 0 (default) mines a block per transaction.
    pub block_time_ms: u64,
    /// `block_gas_limit`. Default 30,000,000.
    pub block_gas_limit: u64,
    /// `dev_accounts`: how many dev accounts genesis funds. Default 10.
    pub dev_accounts: u32,
    /// `mnemonic`: where the dev accounts come from. Default the public dev mnemonic.
    pub mnemonic: String,
    /// `rpc`: where to serve the chain's JSON-RPC, if anywhere.
    pub rpc: Option<SocketAddr>,
}

/// The default EIP-155 chain id, anvil's.
pub const DEFAULT_CHAIN_ID: u64 = 31_337;

impl PluginKeys {
    /// Takes the plugin's keys from `section`.
    pub fn take(section: &mut PluginSection) -> Result<Self, ConfigError> {
        let keys = Self {
            chain_id: section.take_or("chain_id", DEFAULT_CHAIN_ID)?,
            block_time_ms: section.take_or("block_time_ms", 0u64)?,
            block_gas_limit: section.take_or("block_gas_limit", 30_000_000u64)?,
            dev_accounts: section.take_or("dev_accounts", 10u32)?,
            mnemonic: section.take_or("mnemonic", DEV_MNEMONIC.to_owned())?,
            rpc: match section.take::<String>("rpc")? {
                None => None,
                Some(text) => Some(text.parse().map_err(|e| section.invalid("rpc", e))?),
            },
        };
        if keys.block_gas_limit < 21_000 {
            return Err(section.invalid("block_gas_limit", "must be at least 21000"));
        }
        Ok(keys)
    }

    /// The engine configuration these keys describe.
    pub fn config(&self, verifier: Option<Arc<PinnedVk>>) -> EmbeddedConfig {
        let mut config = EmbeddedConfig::new(self.chain_id)
            .with_block_time(BlockTime::from_millis(self.block_time_ms));
        config.block_gas_limit = self.block_gas_limit;
        config.dev_accounts = self.dev_accounts;
        config.mnemonic = self.mnemonic.clone();
        config.verifier = verifier;
        config
    }
}

/// Refuses `finality = N` with N > 0: the chain keeps no historical state, so the nonce
/// and balance reads the node makes at `latest - N` would all fail. Its blocks are final
/// when made (it never reorgs): `"finalized"` (or `"safe"`, or 0) is the rule to use.
fn check_finality(spec: &ChainSpec) -> Result<(), ConfigError> {
    match spec.finality {
        Finality::Blocks(n) if n > 0 => Err(ConfigError::InvalidValue {
            chain: spec.name.clone(),
            key: "finality".into(),
            reason: format!(
                "{n} blocks cannot work on an embedded chain, which keeps the latest state \
                 only; its blocks are final when made: use \"finalized\""
            ),
        }),
        _ => Ok(()),
    }
}

/// The factory of kind `embedded`: `storage_for(chain name)` is the chain's store, and
/// `verifier` the key the precompile pins (the node's primary needs one). The plugin's
/// keys are those of [`PluginKeys`]. The factory opens the chain; the node starts its
/// miner ([`EmbeddedChain::start_miner`]) and its server ([`crate::serve`]) when it wants
/// them, since a factory has no runtime to start tasks on. [`factory_with`] hands the
/// opened chains and their keys to a callback for that.
pub fn factory<S>(storage_for: S, verifier: Option<Arc<PinnedVk>>) -> impl ChainFactory
where
    S: Fn(&str) -> Arc<dyn Storage> + Send + Sync,
{
    factory_with(storage_for, verifier, |_, _, _| {})
}

/// [`factory`], calling `opened(chain name, chain, keys)` with every chain it opens.
pub fn factory_with<S, O>(
    storage_for: S,
    verifier: Option<Arc<PinnedVk>>,
    opened: O,
) -> impl ChainFactory
where
    S: Fn(&str) -> Arc<dyn Storage> + Send + Sync,
    O: Fn(&str, &EmbeddedChain, &PluginKeys) + Send + Sync,
{
    move |spec: &ChainSpec, section: &mut PluginSection| -> Result<Arc<dyn Chain>, ConfigError> {
        check_finality(spec)?;
        let keys = PluginKeys::take(section)?;
        let chain = EmbeddedChain::open(storage_for(&spec.name), keys.config(verifier.clone()))
            .map_err(|e| ConfigError::Plugin {
                chain: spec.name.clone(),
                source: Box::new(e),
            })?;
        opened(&spec.name, &chain, &keys);
        Ok(Arc::new(chain))
    }
}
