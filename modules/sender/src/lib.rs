//! The durable sender of DESIGN §7: one per (chain, sender key), on the storage trait.
//!
//! - [`DurableSender::enqueue`] stores a request with its nonce, `max(last stored + 1,
//!   the chain's nonce at start-up)`, in one commit, before anything is signed.
//! - [`DurableSender::tick`] (an actor calls it) reads the sender's nonce at the chain's
//!   `latest`, `safe` and `finalized` heads to place each request (pending, mined, safe,
//!   final), finds the receipt of the attempt that landed, broadcasts again what the
//!   chain may have lost, replaces the first unmined transaction at its nonce once it has
//!   waited `blocks_before_replacement` blocks (both fees up by `bump_percent` ≥ 10%,
//!   never above the caps: "stuck at cap" otherwise), and signs the next requests in
//!   nonce order while fewer than `max_in_flight` are unmined. Every signed attempt is
//!   stored before it is broadcast; a send error deletes nothing.
//! - A transaction mined but reverted stops the sender (persisted, logged at error
//!   level): every later `enqueue` and `tick` answers [`SenderError::Stopped`] until an
//!   operator calls [`DurableSender::clear_stop`]. It is never retried.
//! - [`DurableSender::open`] on the same store resumes: nothing is enqueued again, every
//!   unmined attempt is watched and broadcast again, no nonce is used twice.
//!
//! Signing is a [`TxSigner`]; [`LocalSigner`] holds a secp256k1 key. The storage layout is
//! in [`store`].

mod config;
mod error;
pub mod fees;
mod metrics;
mod sender;
mod signer;
pub mod store;

pub use alloy_consensus::TxEip1559;
pub use config::{GasPolicy, SenderConfig, MIN_BUMP_PERCENT};
pub use error::{Result, SenderError};
pub use fees::{FeeCaps, Fees, StuckAtCap};
pub use sender::{
    DurableSender, NewTx, NonceHeads, RequestView, SenderEvent, SenderStatus, TickReport, TxId,
};
pub use signer::{LocalSigner, SignedTx, SignerError, TxSigner};
pub use store::{
    senders_in, Attempt, Confirmation, Inclusion, SenderStore, StopKind, StopReason, StoredTx,
    TxState, DROPPED_LABEL_PREFIX,
};
