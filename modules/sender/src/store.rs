//! What the sender persists, and where.
//!
//! Three tables, shared by every sender of the node; each key starts with the sender's
//! 28-byte namespace, `chain_id (u64, big-endian) ‖ sender address`, so senders of
//! different chains or keys never see each other's rows and a range read stays within one
//! sender:
//!
//! | table | key | value (JSON) |
//! |---|---|---|
//! | `sender.requests` | `(namespace, nonce)` | [`StoredTx`]: the request and its state |
//! | `sender.attempts` | `(namespace, (nonce, attempt index))` | [`Attempt`]: signed bytes, hash, fees |
//! | `sender.meta` | `namespace` | [`SenderMeta`]: the finality cursor and the stop |

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use manyfold_storage::{Order, Storage, StorageExt, Table, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fees::Fees;

/// A sender's key prefix: EVM chain id (big-endian) then the sender's address.
pub type Namespace = [u8; 28];

/// The namespace of the sender `sender` on the chain with EVM chain id `chain_id`.
pub fn namespace(chain_id: u64, sender: Address) -> Namespace {
    let mut ns = [0u8; 28];
    ns[..8].copy_from_slice(&chain_id.to_be_bytes());
    ns[8..].copy_from_slice(sender.as_slice());
    ns
}

pub use manyfold_storage::Json;

/// What a dropped request's label starts with; the original label follows.
pub const DROPPED_LABEL_PREFIX: &str = "dropped: ";

/// Every sender with rows in `storage`, as (EVM chain id, address), in key order: the
/// namespaces of the meta and request tables (a sender has request rows from its first
/// request on, a meta row from its first stop or finality on).
pub fn senders_in(storage: &dyn Storage) -> Result<Vec<(u64, Address)>> {
    let mut found = std::collections::BTreeSet::new();
    for (ns, _) in storage.scan::<Meta>()? {
        found.insert(split_namespace(&ns));
    }
    // A sender's requests may be many: one seek per sender, past its last request.
    let mut from = [0u8; 28];
    loop {
        let next = storage.range::<Requests>((from, 0).., Order::Ascending, Some(1))?;
        let Some(((ns, _), _)) = next.into_iter().next() else {
            break;
        };
        let (chain_id, sender) = split_namespace(&ns);
        found.insert((chain_id, sender));
        // The next namespace: this one plus one, as a 28-byte big-endian number.
        let mut ns = namespace(chain_id, sender);
        if !increment(&mut ns) {
            break;
        }
        from = ns;
    }
    Ok(found.into_iter().collect())
}

fn split_namespace(key: &[u8]) -> (u64, Address) {
    let mut chain_id = [0u8; 8];
    chain_id.copy_from_slice(&key[..8]);
    (
        u64::from_be_bytes(chain_id),
        Address::from_slice(&key[8..28]),
    )
}

/// Adds one to a big-endian number; false when it wraps.
fn increment(bytes: &mut [u8]) -> bool {
    for b in bytes.iter_mut().rev() {
        if *b == u8::MAX {
            *b = 0;
        } else {
            *b += 1;
            return true;
        }
    }
    false
}

/// Every request, by nonce.
pub struct Requests;
impl Table for Requests {
    const NAME: &'static str = "sender.requests";
    type Key = (Namespace, u64);
    type Value = Json<StoredTx>;
}

/// Every signed attempt, by nonce and attempt index.
pub struct Attempts;
impl Table for Attempts {
    const NAME: &'static str = "sender.attempts";
    type Key = (Namespace, (u64, u32));
    type Value = Json<Attempt>;
}

/// One row per sender.
pub struct Meta;
impl Table for Meta {
    const NAME: &'static str = "sender.meta";
    type Key = Namespace;
    type Value = Json<SenderMeta>;
}

/// A request as stored: what to send, with its nonce, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTx {
    /// The nonce, fixed when the request was stored; also its id.
    pub nonce: u64,
    /// What it is (`"commit"`, `"prove"`, ...), for logs, metrics and the caller.
    pub label: String,
    /// The callee; `None` for a contract creation.
    pub to: Option<Address>,
    /// The calldata.
    pub calldata: Bytes,
    /// Wei sent along.
    pub value: U256,
    /// The gas limit the request named; `None` to estimate at the first signing.
    pub gas_limit: Option<u64>,
    /// Where it stands, as last observed.
    pub state: TxState,
    /// An operator dropped the request before it was ever signed
    /// ([`SenderStore::drop_refused`]): what is sent at its nonce is a 0-value transfer to
    /// the sender itself, so the nonce is used and the requests after it go on, and the
    /// caller asks again for what it wanted. `label` is then the original's after
    /// [`DROPPED_LABEL_PREFIX`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
}

/// Where a request stands, as the sender last observed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Not in a block: not signed yet, or sent and waiting.
    Unconfirmed,
    /// One of its attempts is in a block and succeeded.
    Included(Inclusion),
    /// One of its attempts is in a block and reverted: the sender stopped there. Terminal;
    /// never sent again.
    Reverted(Inclusion),
    /// Its nonce is final on the chain, used by a transaction the sender did not sign: the
    /// sender stopped there. Terminal; never sent again.
    Lost,
}

impl TxState {
    /// Whether the sender is done with it for good (reverted or lost): it is never sent
    /// again, whatever the chain says later.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Reverted(_) | Self::Lost)
    }
}

/// How deep a mined transaction is, read from the sender's nonce at each head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// Below the nonce at `latest`.
    Mined,
    /// Below the nonce at `safe`.
    Safe,
    /// Below the nonce at `finalized`: done.
    Finalized,
}

/// The attempt that landed, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inclusion {
    /// How deep it is.
    pub confirmation: Confirmation,
    /// Its hash.
    pub tx: B256,
    /// The block it is in.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// Gas it used.
    pub gas_used: u64,
    /// Wei per gas it paid.
    pub effective_gas_price: u128,
}

/// One signed attempt at a request's nonce, stored before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 0 for the first, then one more per replacement.
    pub index: u32,
    /// The transaction hash.
    pub hash: B256,
    /// The signed EIP-2718 bytes, what is (re)broadcast.
    pub raw: Bytes,
    /// Its gas limit.
    pub gas_limit: u64,
    /// Its fees.
    pub fees: Fees,
    /// The latest block when it was signed: replacement waits count from here.
    pub signed_at_block: u64,
}

/// A sender's own row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderMeta {
    /// Every request below this nonce is final (or reverted and final); start-up loads
    /// only the requests from here on.
    pub final_below: u64,
    /// Why the sender is stopped, until an operator clears it.
    pub stopped: Option<StopReason>,
}

impl SenderMeta {
    /// The same row without its stop.
    fn cleared(self) -> Self {
        Self {
            stopped: None,
            ..self
        }
    }
}

/// Why a sender stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReason {
    /// The request's nonce.
    pub nonce: u64,
    /// The request's label.
    pub label: String,
    /// What happened.
    pub kind: StopKind,
}

/// What stopped a sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// The transaction was mined and reverted.
    Reverted {
        /// The attempt that was mined.
        tx: B256,
        /// Its block.
        block_number: u64,
    },
    /// The nonce is final on the chain, and none of the sender's attempts is the
    /// transaction that used it: something else signed with this key.
    NonceUsedElsewhere,
    /// The contract refuses the request: estimating its gas reverted on consecutive ticks
    /// with nothing of this sender ahead of it unmined, so no earlier transaction of ours
    /// can change the answer. It was never signed (its nonce is still free); clearing the
    /// stop tries it again.
    Refused {
        /// The decoded revert reason, when the chain plugin could decode one.
        reason: Option<String>,
        /// The raw revert data (a custom error's selector and arguments).
        data: alloy_primitives::Bytes,
    },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            StopKind::Reverted { tx, block_number } => write!(
                f,
                "{} transaction (nonce {}) {tx} reverted in block {block_number}",
                self.label, self.nonce
            ),
            StopKind::Refused { reason, data } => write!(
                f,
                "{} transaction (nonce {}) is refused by the contract: estimating it reverts ({})",
                self.label,
                self.nonce,
                reason.clone().unwrap_or_else(|| format!("data {data}"))
            ),
            StopKind::NonceUsedElsewhere => write!(
                f,
                "nonce {} of the {} transaction is final on the chain, used by a transaction \
                 this sender did not sign",
                self.nonce, self.label
            ),
        }
    }
}

/// One sender's rows in a shared store: reads for the sender itself and for anyone
/// inspecting it (the RPC, an operator, tests).
#[derive(Debug, Clone)]
pub struct SenderStore {
    storage: Arc<dyn Storage>,
    ns: Namespace,
}

impl SenderStore {
    /// The rows of sender `sender` on EVM chain `chain_id` in `storage`.
    pub fn new(storage: Arc<dyn Storage>, chain_id: u64, sender: Address) -> Self {
        Self {
            storage,
            ns: namespace(chain_id, sender),
        }
    }

    /// The request with this nonce.
    pub fn request(&self, nonce: u64) -> Result<Option<StoredTx>> {
        Ok(self
            .storage
            .get::<Requests>(&(self.ns, nonce))?
            .map(|j| j.0))
    }

    /// The requests from nonce `from` on, in nonce order.
    pub fn requests_from(&self, from: u64) -> Result<Vec<StoredTx>> {
        Ok(self
            .storage
            .range::<Requests>(
                (self.ns, from)..=(self.ns, u64::MAX),
                Order::Ascending,
                None,
            )?
            .into_iter()
            .map(|(_, j)| j.0)
            .collect())
    }

    /// The request with the greatest nonce.
    pub fn last_request(&self) -> Result<Option<StoredTx>> {
        Ok(self
            .storage
            .range::<Requests>(
                (self.ns, 0)..=(self.ns, u64::MAX),
                Order::Descending,
                Some(1),
            )?
            .pop()
            .map(|(_, j)| j.0))
    }

    /// The attempts at `nonce`, oldest first.
    pub fn attempts(&self, nonce: u64) -> Result<Vec<Attempt>> {
        self.attempts_between(nonce, nonce)
    }

    /// The attempts at nonces `from..=to`, by nonce then index.
    pub fn attempts_between(&self, from: u64, to: u64) -> Result<Vec<Attempt>> {
        Ok(self
            .storage
            .range::<Attempts>(
                (self.ns, (from, 0))..=(self.ns, (to, u32::MAX)),
                Order::Ascending,
                None,
            )?
            .into_iter()
            .map(|(_, j)| j.0)
            .collect())
    }

    /// With the nonce of each attempt.
    pub(crate) fn attempts_from(&self, from: u64) -> Result<Vec<(u64, Attempt)>> {
        Ok(self
            .storage
            .range::<Attempts>(
                (self.ns, (from, 0))..=(self.ns, (u64::MAX, u32::MAX)),
                Order::Ascending,
                None,
            )?
            .into_iter()
            .map(|((_, (nonce, _)), j)| (nonce, j.0))
            .collect())
    }

    /// The sender's own row (a default one before the first write).
    pub fn meta(&self) -> Result<SenderMeta> {
        Ok(self
            .storage
            .get::<Meta>(&self.ns)?
            .map(|j| j.0)
            .unwrap_or_default())
    }

    /// The requests not yet final, in nonce order: unmined, or mined and not yet
    /// finalized (what an operator looks at on a stopped sender).
    pub fn open_requests(&self) -> Result<Vec<StoredTx>> {
        let meta = self.meta()?;
        Ok(self
            .requests_from(meta.final_below)?
            .into_iter()
            .filter(|tx| match &tx.state {
                TxState::Unconfirmed => true,
                TxState::Included(inclusion) => inclusion.confirmation != Confirmation::Finalized,
                TxState::Reverted(_) | TxState::Lost => false,
            })
            .collect())
    }

    /// Clears the sender's stop in the store, for an operator working on a stopped node
    /// (`manyfold sender clear`); returns what it cleared. The running sender does the same
    /// through [`crate::DurableSender::clear_stop`].
    pub fn clear_stop(&self) -> Result<Option<StopReason>> {
        let meta = self.meta()?;
        let Some(reason) = meta.stopped.clone() else {
            return Ok(None);
        };
        let mut batch = WriteBatch::new();
        self.put_meta(&mut batch, &meta.cleared());
        self.commit(batch)?;
        Ok(Some(reason))
    }

    /// Drops the request the contract refused and every request after it, for an operator
    /// working on a stopped node (`manyfold sender drop`); clears the stop in the same
    /// durable write and returns the requests as they were. Refused unless the sender is
    /// stopped on a refusal and none of those requests was ever signed (the sender signs in
    /// nonce order, and a refused request is never signed, so the ones after it never were
    /// either; the check guards against a store that says otherwise).
    ///
    /// Each keeps its nonce, now a 0-value transfer to the sender itself labelled
    /// [`DROPPED_LABEL_PREFIX`] and the original label, so the nonces stay contiguous; whoever asked for them finds them dropped and asks
    /// again, at new nonces, for what still needs doing. Later requests are dropped too
    /// because they were asked for behind the refused one and may depend on it: a proof
    /// of the next range builds on the refused proof's.
    pub fn drop_refused(&self) -> Result<Vec<StoredTx>> {
        let meta = self.meta()?;
        let nonce = match &meta.stopped {
            Some(StopReason {
                nonce,
                kind: StopKind::Refused { .. },
                ..
            }) => *nonce,
            Some(other) => {
                return Err(crate::SenderError::InvalidRequest(format!(
                    "only a request the contract refused can be dropped; the sender stopped because {other}"
                )))
            }
            None => {
                return Err(crate::SenderError::InvalidRequest(
                    "the sender is not stopped: nothing to drop".into(),
                ))
            }
        };
        let (_, sender) = split_namespace(&self.ns);
        let originals = self.requests_from(nonce)?;
        let mut batch = WriteBatch::new();
        for tx in &originals {
            if !self.attempts(tx.nonce)?.is_empty() || tx.state != TxState::Unconfirmed {
                return Err(crate::SenderError::InvalidRequest(format!(
                    "request {} (nonce {}) was signed: it cannot be dropped",
                    tx.label, tx.nonce
                )));
            }
            // Its gas is estimated like any call's: a plain transfer's 21,000 is too little
            // on chains that charge for L1 data in the gas limit.
            let label = if tx.dropped {
                // A filler the chain refused (an operator account with code that
                // reverts) dropped again keeps its one prefix.
                tx.label.clone()
            } else {
                format!("{DROPPED_LABEL_PREFIX}{}", tx.label)
            };
            let filler = StoredTx {
                label,
                to: Some(sender),
                calldata: Bytes::new(),
                value: U256::ZERO,
                gas_limit: None,
                dropped: true,
                ..tx.clone()
            };
            self.put_request(&mut batch, &filler);
        }
        self.put_meta(&mut batch, &meta.cleared());
        self.commit(batch)?;
        Ok(originals)
    }

    pub(crate) fn put_request(&self, batch: &mut WriteBatch, tx: &StoredTx) {
        batch.put::<Requests>(&(self.ns, tx.nonce), &Json(tx.clone()));
    }

    pub(crate) fn put_attempt(&self, batch: &mut WriteBatch, nonce: u64, attempt: &Attempt) {
        batch.put::<Attempts>(&(self.ns, (nonce, attempt.index)), &Json(attempt.clone()));
    }

    pub(crate) fn put_meta(&self, batch: &mut WriteBatch, meta: &SenderMeta) {
        batch.put::<Meta>(&self.ns, &Json(meta.clone()));
    }

    /// Applies `batch` atomically and durably.
    pub(crate) fn commit(&self, batch: WriteBatch) -> Result<()> {
        Ok(self.storage.commit(batch)?)
    }
}
