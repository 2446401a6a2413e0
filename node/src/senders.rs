//! The operator's view of the durable senders in a stopped node's database: what
//! `manyfold sender status` prints and what `manyfold sender clear` and `drop` do.
//!
//! A sender stops for good on a transaction that reverted, a nonce something else used,
//! or a request the contract keeps refusing (`manyfold_sender::StopKind`); the chain's
//! settlement then holds with that reason until an operator has looked. These functions
//! open the database directly, so the node must be stopped: its database is locked while
//! it runs, and opening it then fails with a clear error rather than racing the node.

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::Address;
use manyfold_sender::{SenderStore, StopKind, StopReason, StoredTx};
use manyfold_storage::{SledStorage, Storage};

use crate::config::NodeConfig;
use crate::deploy::Deployment;
use crate::NodeError;

/// One sender as the store holds it.
#[derive(Debug, Clone)]
pub struct SenderReport {
    /// The chain's name in the deployment file, when it names this EVM chain id.
    pub chain: Option<String>,
    /// The EVM chain id.
    pub evm_chain_id: u64,
    /// The sending account.
    pub sender: Address,
    /// Why it is stopped, if it is.
    pub stopped: Option<StopReason>,
    /// Its requests not yet final, in nonce order.
    pub open: Vec<StoredTx>,
}

/// Opens the node's database for the operator's commands; refuses while the node runs.
fn open_storage(config: &NodeConfig) -> Result<Arc<dyn Storage>, NodeError> {
    let dir = config.data_dir.join("db");
    if !dir.exists() {
        return Err(NodeError::Storage(format!(
            "no node database at {} (is --data-dir the node's?)",
            dir.display()
        )));
    }
    let storage = SledStorage::open(&dir).map_err(|e| {
        NodeError::Storage(format!(
            "{}: {e} (a running node holds its database: stop it first)",
            dir.display()
        ))
    })?;
    Ok(Arc::new(storage))
}

/// The chain names of the deployment file, by EVM chain id (empty when there is none;
/// an error when it is there and cannot be read).
fn chain_names(path: &Path) -> Result<Vec<(u64, String)>, NodeError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let deployment = Deployment::read(path)
        .map_err(|e| NodeError::Config(format!("the deployment file {}: {e}", path.display())))?;
    Ok(deployment
        .chains
        .into_iter()
        .map(|(name, chain)| (chain.evm_chain_id, name))
        .collect())
}

fn storage_err(e: manyfold_sender::SenderError) -> NodeError {
    NodeError::Storage(e.to_string())
}

/// The senders in the node's database on the deployment file's chain `chain`.
fn stores_on(config: &NodeConfig, chain: &str) -> Result<Vec<(Address, SenderStore)>, NodeError> {
    let evm_chain_id = chain_id_of(config, chain)?;
    let storage = open_storage(config)?;
    Ok(manyfold_sender::senders_in(&*storage)
        .map_err(storage_err)?
        .into_iter()
        .filter(|(id, _)| *id == evm_chain_id)
        .map(|(id, sender)| (sender, SenderStore::new(storage.clone(), id, sender)))
        .collect())
}

/// Every sender in the node's database, with its stop and its open requests.
pub fn reports(config: &NodeConfig) -> Result<Vec<SenderReport>, NodeError> {
    let storage = open_storage(config)?;
    // Names only label the report: an unreadable deployment file leaves them out.
    let names = chain_names(&config.deployment_path()).unwrap_or_else(|e| {
        tracing::warn!("{e}: senders are shown without their chains' names");
        Vec::new()
    });
    manyfold_sender::senders_in(&*storage)
        .map_err(storage_err)?
        .into_iter()
        .map(|(evm_chain_id, sender)| {
            let store = SenderStore::new(storage.clone(), evm_chain_id, sender);
            Ok(SenderReport {
                chain: names
                    .iter()
                    .find(|(id, _)| *id == evm_chain_id)
                    .map(|(_, name)| name.clone()),
                evm_chain_id,
                sender,
                stopped: store.meta().map_err(storage_err)?.stopped,
                open: store.open_requests().map_err(storage_err)?,
            })
        })
        .collect()
}

/// Clears the stop of every sender on chain `chain` (a deployment file's name); returns
/// what it cleared, by sender. A chain with no stopped sender is not an error: nothing
/// changes and the list is empty.
pub fn clear(config: &NodeConfig, chain: &str) -> Result<Vec<(Address, StopReason)>, NodeError> {
    let mut cleared = Vec::new();
    for (sender, store) in stores_on(config, chain)? {
        if let Some(reason) = store.clear_stop().map_err(storage_err)? {
            tracing::warn!(%chain, %sender, %reason, "an operator cleared the sender's stop");
            cleared.push((sender, reason));
        }
    }
    Ok(cleared)
}

/// Drops the request the contract refused on chain `chain` and every request after it
/// (`manyfold sender drop`): each nonce goes to a 0-value transfer to the operator itself,
/// the stop is cleared, and on the next start the settlement actors ask again for what
/// those requests were (commits, proofs, sync hashes, confirmations, marks, executions).
/// Returns the dropped requests by sender. Refused unless a sender on that chain is
/// stopped on a refusal.
pub fn drop_refused(
    config: &NodeConfig,
    chain: &str,
) -> Result<Vec<(Address, Vec<StoredTx>)>, NodeError> {
    let mut dropped = Vec::new();
    let mut other_stops = Vec::new();
    for (sender, store) in stores_on(config, chain)? {
        match store.meta().map_err(storage_err)?.stopped {
            Some(StopReason {
                kind: StopKind::Refused { .. },
                ..
            }) => {}
            Some(other) => {
                other_stops.push(format!("{sender} stopped because {other}"));
                continue;
            }
            None => continue,
        }
        let requests = store
            .drop_refused()
            .map_err(|e| NodeError::Config(format!("sender {sender} on `{chain}`: {e}")))?;
        for tx in &requests {
            tracing::warn!(%chain, %sender, nonce = tx.nonce, label = %tx.label, "an operator dropped the request");
        }
        dropped.push((sender, requests));
    }
    if dropped.is_empty() {
        let others = if other_stops.is_empty() {
            String::new()
        } else {
            format!(
                " ({}; `manyfold sender clear` is for that)",
                other_stops.join("; ")
            )
        };
        return Err(NodeError::Config(format!(
            "no sender on `{chain}` is stopped on a refused request: nothing to drop{others}"
        )));
    }
    Ok(dropped)
}

/// The EVM chain id of the deployment file's chain `chain`.
fn chain_id_of(config: &NodeConfig, chain: &str) -> Result<u64, NodeError> {
    let names = chain_names(&config.deployment_path())?;
    names
        .iter()
        .find(|(_, name)| name == chain)
        .map(|(id, _)| *id)
        .ok_or_else(|| {
            let known: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
            NodeError::Config(format!(
                "no chain `{chain}` in the deployment file {} (it has: {})",
                config.deployment_path().display(),
                known.join(", ")
            ))
        })
}

/// What clearing a stop of this kind leads to once the node starts again: the operator
/// reads it before deciding.
pub fn after_clearing(kind: &StopKind) -> &'static str {
    match kind {
        StopKind::Refused { .. } => {
            "the refused request was never signed: it is estimated again, and sent once the \
             contract accepts it (if the contract still refuses it, the sender stops again \
             after its refusals; `manyfold sender drop` gives its nonce up and lets the \
             settler ask again instead)"
        }
        StopKind::Reverted { .. } => {
            "the reverted transaction is never sent again and the requests after it go on; \
             the settler does not ask again for the action that reverted, so the contract \
             must already reflect it (check with `cast`) or that chain's settlement holds \
             again, and the node records no later stage of that chain over RPC"
        }
        StopKind::NonceUsedElsewhere => {
            "the request whose nonce another signer used is never sent; the requests after \
             it go on. Find who else signs with the operator key before restarting"
        }
    }
}
