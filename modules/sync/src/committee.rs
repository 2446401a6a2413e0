//! The committee transport (DESIGN §6): M-of-N ECDSA attestations, signed in the node by
//! the validator keys it holds, of what the attesters read from the chains themselves.

use std::future::Future;
use std::pin::Pin;

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::SolCall;
use k256::ecdsa::SigningKey;
use manyfold_contracts::attestation::{
    attestation_digest, confirmation_message, sign_by_committee, sync_hash_message,
    validator_address, AttestationKind, Receiver,
};
use manyfold_contracts::bindings::{Primary, Secondary};
use manyfold_contracts::settlement::StoredBlock;
use manyfold_sender::NewTx;
use manyfold_settler::{ContractReader, Result, SettlerError};
use manyfold_types::ChainId;

/// A message a transport carries from one chain's contract to another's.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// Where it comes from: the contract whose state the message reports.
    pub source: &'a ContractReader,
    /// The source's rollup id.
    pub source_chain: ChainId,
    /// The receiving contract.
    pub receiver: Receiver,
    /// The receiver's rollup id.
    pub destination_chain: ChainId,
}

/// What each transport's future resolves to: the call that delivers the message on the
/// destination chain, or `None` while the source does not show it at its final head yet.
pub type Delivery<'a> = Pin<Box<dyn Future<Output = Result<Option<NewTx>>> + Send + 'a>>;

/// How sync hashes reach the primary and confirmations reach the secondaries (DESIGN §6).
/// A transport reads what it carries from the source chain; the node only says which
/// block. The committee is the first; a bridge can be another.
pub trait SyncTransport: Send + Sync {
    /// Delivers the sync hash the secondary `route.source` stored for `claimed` (the block
    /// as the node computed it: the transport checks the contract stored exactly that).
    fn sync_hash<'a>(&'a self, route: Route<'a>, claimed: StoredBlock) -> Delivery<'a>;

    /// Delivers the primary's confirmation of block `claimed` (as the node computed the
    /// primary stored it) to a secondary, once the primary has executed it.
    fn confirmation<'a>(&'a self, route: Route<'a>, claimed: StoredBlock) -> Delivery<'a>;
}

/// Why a committee could not be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    /// No keys.
    #[error("the committee needs at least one key")]
    NoKeys,
    /// Fewer keys than the threshold: its attestations would never verify.
    #[error("the node holds {keys} committee keys, fewer than the threshold {threshold}")]
    BelowThreshold {
        /// Keys held.
        keys: usize,
        /// Signatures the contracts want.
        threshold: usize,
    },
    /// The same key twice.
    #[error("committee key {0} is given twice")]
    Duplicate(Address),
}

/// The in-node committee: signs with `threshold` of the validator keys it holds.
pub struct Committee {
    keys: Vec<SigningKey>,
    domain: B256,
}

impl std::fmt::Debug for Committee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committee")
            .field("validators", &self.addresses())
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Committee {
    /// A committee signing with the first `threshold` of `keys` under the deployment's
    /// attestation `domain`.
    pub fn new(
        keys: Vec<SigningKey>,
        threshold: usize,
        domain: B256,
    ) -> Result<Self, CommitteeError> {
        if keys.is_empty() {
            return Err(CommitteeError::NoKeys);
        }
        if keys.len() < threshold {
            return Err(CommitteeError::BelowThreshold {
                keys: keys.len(),
                threshold,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for key in &keys {
            let address = validator_address(key);
            if !seen.insert(address) {
                return Err(CommitteeError::Duplicate(address));
            }
        }
        let mut keys = keys;
        keys.truncate(threshold.max(1));
        Ok(Self { keys, domain })
    }

    /// The validators that sign.
    pub fn addresses(&self) -> Vec<Address> {
        self.keys.iter().map(validator_address).collect()
    }

    fn sign(&self, route: &Route<'_>, kind: AttestationKind, block: u32, hash: B256) -> Vec<Bytes> {
        let digest = attestation_digest(
            self.domain,
            route.receiver,
            route.source_chain.get(),
            route.destination_chain.get(),
            kind,
            block,
            hash,
        );
        sign_by_committee(&self.keys, digest)
            .into_iter()
            .map(|s| Bytes::copy_from_slice(&s))
            .collect()
    }

    /// Checks that the source stored `claimed` at its final block `at`.
    async fn check_stored(
        source: &ContractReader,
        claimed: &StoredBlock,
        at: manyfold_chain::BlockId,
    ) -> Result<bool> {
        let stored = source.stored_block_hash(claimed.block_sequence, at).await?;
        if stored == B256::ZERO {
            return Ok(false);
        }
        if stored != claimed.hash() {
            return Err(SettlerError::Diverged {
                chain: source.name.clone(),
                block: claimed.block_number,
                reason: format!(
                    "it stores sequence {} as {stored}, not as the node computed it ({}): the committee does not sign",
                    claimed.block_sequence,
                    claimed.hash()
                ),
            });
        }
        Ok(true)
    }
}

impl SyncTransport for Committee {
    fn sync_hash<'a>(&'a self, route: Route<'a>, claimed: StoredBlock) -> Delivery<'a> {
        Box::pin(async move {
            let source = route.source;
            let Some(at) = source.final_block().await? else {
                return Ok(None);
            };
            if !Self::check_stored(source, &claimed, at).await? {
                return Ok(None);
            }
            // Read, not assumed: the primary counts the hash only while the secondary has
            // applied every revert it made.
            let reverts = source.view(Secondary::revertsAppliedCall {}, at).await?;
            let signatures = self.sign(
                &route,
                AttestationKind::SyncHash,
                claimed.block_number,
                sync_hash_message(claimed.sync_hash, reverts),
            );
            let call = Primary::receiveSyncHashCall {
                srcChainId: route.source_chain.get(),
                blockNumber: claimed.block_number,
                syncHash: claimed.sync_hash,
                signatures,
            };
            Ok(Some(NewTx::call(
                format!(
                    "sync hash {} (chain {})",
                    claimed.block_number, route.source_chain
                ),
                route.receiver.contract,
                call.abi_encode(),
            )))
        })
    }

    fn confirmation<'a>(&'a self, route: Route<'a>, claimed: StoredBlock) -> Delivery<'a> {
        Box::pin(async move {
            let primary = route.source;
            let Some(at) = primary.final_block().await? else {
                return Ok(None);
            };
            // Only once the primary has executed the block (DESIGN §1: no chain executes
            // ahead of the primary).
            let executed = primary
                .view(Primary::totalBlocksExecutedCall {}, at)
                .await?;
            if executed < claimed.block_number {
                return Ok(None);
            }
            if !Self::check_stored(primary, &claimed, at).await? {
                return Ok(None);
            }
            let sync_hash = primary
                .sync_hash_at(route.destination_chain.get(), claimed.block_number, at)
                .await?;
            let signatures = self.sign(
                &route,
                AttestationKind::Confirmation,
                claimed.block_number,
                confirmation_message(claimed.state_root, sync_hash),
            );
            let call = Secondary::receiveConfirmationCall {
                blockNumber: claimed.block_number,
                stateRoot: claimed.state_root,
                syncHash: sync_hash,
                signatures,
            };
            Ok(Some(NewTx::call(
                format!(
                    "confirm {} (chain {})",
                    claimed.block_number, route.destination_chain
                ),
                route.receiver.contract,
                call.abi_encode(),
            )))
        })
    }
}
