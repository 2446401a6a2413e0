//! The embedded chain as a process of its own (`manyfold chain`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use jsonrpsee::server::ServerHandle;
use manyfold_prover::PinnedVk;
use manyfold_storage::SledStorage;

use crate::chain::{EmbeddedChain, MinerHandle};
use crate::config::{BlockTime, EmbeddedConfig, DEV_MNEMONIC};
use crate::dev::DevAccount;
use crate::error::EmbeddedError;
use crate::rpc::{serve, RpcLimits};

/// What a standalone chain runs with.
#[derive(Debug, Clone)]
pub struct StandaloneConfig {
    /// The sled store's directory (created if missing).
    pub data_dir: PathBuf,
    /// The JSON-RPC listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// When blocks are made.
    pub block_time: BlockTime,
    /// The block gas limit.
    pub block_gas_limit: u64,
    /// How many dev accounts genesis funds.
    pub dev_accounts: u32,
    /// The dev accounts' mnemonic (default the public one).
    pub mnemonic: String,
    /// The verifier precompile's key, if any.
    pub verifier: Option<Arc<PinnedVk>>,
    /// The server's limits.
    pub limits: RpcLimits,
}

impl StandaloneConfig {
    /// The defaults of [`EmbeddedConfig::new`] for chain `chain_id`, stored in `data_dir`
    /// and served on `listen`.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr, chain_id: u64) -> Self {
        let defaults = EmbeddedConfig::new(chain_id);
        Self {
            data_dir: data_dir.into(),
            listen,
            chain_id,
            block_time: defaults.block_time,
            block_gas_limit: defaults.block_gas_limit,
            dev_accounts: defaults.dev_accounts,
            mnemonic: defaults.mnemonic,
            verifier: None,
            limits: RpcLimits::default(),
        }
    }

    fn engine_config(&self) -> EmbeddedConfig {
        let mut config = EmbeddedConfig::new(self.chain_id).with_block_time(self.block_time);
        config.block_gas_limit = self.block_gas_limit;
        config.dev_accounts = self.dev_accounts;
        config.mnemonic = self.mnemonic.clone();
        config.verifier = self.verifier.clone();
        config
    }
}

/// Why a standalone chain could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StandaloneError {
    /// The store or the chain would not open.
    #[error(transparent)]
    Chain(#[from] EmbeddedError),
    /// The server could not bind.
    #[error("serving JSON-RPC on {addr}: {source}")]
    Serve {
        /// The listen address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running standalone chain: the engine, its miner and its server.
#[derive(Debug)]
pub struct Standalone {
    /// The chain.
    pub chain: EmbeddedChain,
    /// Where its JSON-RPC answers.
    pub addr: SocketAddr,
    server: ServerHandle,
    miner: Option<MinerHandle>,
}

impl Standalone {
    /// Stops the server and the miner, and waits (up to 5 s) until the server's connection
    /// tasks have let go of the chain, so that the store is closed and can be reopened.
    /// The store is consistent at every block, so nothing else needs doing.
    pub async fn stop(mut self) {
        let _ = self.server.stop();
        self.server.clone().stopped().await;
        drop(self.miner.take());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.chain.shared_handles() > 1 {
            if tokio::time::Instant::now() > deadline {
                tracing::warn!("embedded chain: connections still hold the chain after stop");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tracing::info!("embedded chain stopped");
    }
}

/// Opens the chain in `config.data_dir`, starts its miner and its JSON-RPC server, and
/// logs the address and the dev accounts. Must run inside a tokio runtime.
pub async fn start_standalone(config: StandaloneConfig) -> Result<Standalone, StandaloneError> {
    let storage = SledStorage::open(&config.data_dir).map_err(EmbeddedError::from)?;
    let chain = EmbeddedChain::open(Arc::new(storage), config.engine_config())?;
    let miner = chain.start_miner();
    let (addr, server) = serve(chain.clone(), config.listen, config.limits)
        .await
        .map_err(|source| StandaloneError::Serve {
            addr: config.listen,
            source,
        })?;
    let head = chain.head();
    tracing::info!(
        %addr,
        chain_id = config.chain_id,
        head = head.number,
        block_time = ?config.block_time,
        verifier = chain.verifies_proofs(),
        "embedded chain serving JSON-RPC"
    );
    if config.mnemonic == DEV_MNEMONIC {
        tracing::warn!(
            "dev accounts use the public test mnemonic: their keys are known to everyone"
        );
    }
    for line in dev_account_log(&config.mnemonic, chain.dev_accounts()) {
        match line.secret {
            Some(secret) => {
                tracing::info!(index = line.index, address = %line.address, %secret, "dev account")
            }
            None => tracing::info!(index = line.index, address = %line.address, "dev account"),
        }
    }
    Ok(Standalone {
        chain,
        addr,
        server,
        miner,
    })
}

/// What the start-up log says of one dev account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevAccountLine {
    pub(crate) index: usize,
    pub(crate) address: Address,
    /// Only for the public [`DEV_MNEMONIC`], whose keys everyone knows (and a developer
    /// wants to paste into a wallet); a private mnemonic's keys never reach the logs.
    pub(crate) secret: Option<B256>,
}

/// The dev account lines a chain with `mnemonic` logs at start.
pub(crate) fn dev_account_log(mnemonic: &str, accounts: &[DevAccount]) -> Vec<DevAccountLine> {
    let public = mnemonic == DEV_MNEMONIC;
    accounts
        .iter()
        .enumerate()
        .map(|(index, account)| DevAccountLine {
            index,
            address: account.address,
            secret: public.then_some(account.secret),
        })
        .collect()
}

/// Runs a standalone chain until `shutdown` completes (for instance
/// `async { let _ = tokio::signal::ctrl_c().await; }`), then stops it.
pub async fn run_standalone(
    config: StandaloneConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StandaloneError> {
    let running = start_standalone(config).await?;
    shutdown.await;
    running.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::dev_accounts;

    #[test]
    fn secrets_are_logged_only_for_the_public_mnemonic() {
        let public = dev_accounts(DEV_MNEMONIC, 2).unwrap();
        let lines = dev_account_log(DEV_MNEMONIC, &public);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].address, public[0].address);
        assert_eq!(
            lines[1].secret,
            Some(public[1].secret),
            "public keys: shown"
        );

        let mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon \
                        abandon abandon abandon about";
        let private = dev_accounts(mnemonic, 2).unwrap();
        let lines = dev_account_log(mnemonic, &private);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].address, private[1].address);
        assert!(
            lines.iter().all(|l| l.secret.is_none()),
            "a private mnemonic's keys stay out of the logs: {lines:?}"
        );
    }
}
