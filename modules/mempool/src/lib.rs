//! The mempool: L2 transactions waiting for a block, and the lane of priority operations
//! delivered by chain watchers.
//!
//! [`Mempool`] is the logic (no runtime needed to test it); [`MempoolActor`] is the actix
//! shell the node runs, reached through a [`MempoolHandle`].
//!
//! - Validation: an account's next transaction (nonce equal to the account's) is checked
//!   by [`manyfold_state::L2State::check`], every rule of the state; later nonces queue
//!   behind it after their signature, key, nonce contiguity and balance net of the
//!   account's queued debits are checked. The block builder applies every op for real and
//!   turns the rare late refusal into a failed receipt.
//! - Limits: total transactions, transactions per account, priority ops; each is
//!   configurable and each refusal says which limit was hit.
//! - Durability: an admitted transaction is written to storage before it is acknowledged,
//!   and deleted in the same commit as the block that includes it.

mod actor;
mod error;
mod persist;
mod pool;
mod tokens;

pub use actor::{BlockSealed, MempoolActor, MempoolHandle, MempoolStatus};
pub use error::MempoolError;
pub use persist::delete_persisted;
pub use pool::{Candidate, Mempool, MempoolConfig, PriorityCursor};
pub use tokens::TokenRegistry;
