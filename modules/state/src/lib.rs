//! The Manyfold L2 state machine (DESIGN §3 and §4).
//!
//! [`L2State`] holds every account and the per-(chain, token) reserves in Poseidon sparse
//! Merkle trees and applies [`manyfold_types::Op`]s with [`L2State::apply`], which enforces
//! every rule of the protocol and either returns the op's pubdata or refuses it with a
//! [`StateError`] leaving the state untouched. Changes are written to a
//! [`manyfold_storage::WriteBatch`] that the caller commits together with its own data
//! (a block, its receipts), so state and block land atomically.
//!
//! [`hashes`] has the keccak ops-hash and sync-hash chains of DESIGN §2.

mod error;
pub mod hashes;
mod proof;
mod state;
mod tables;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod tree;

pub use error::{Result, StateError};
pub use proof::{AccountProof, BalanceProof, ExitProof};
pub use state::{
    account_leaf_hash, reserve_index, state_root, AccountInfo, AppliedOp, L2State, LeafSnapshot,
    ReserveSnapshot, ACCOUNT_TREE_DEPTH, BALANCE_TREE_DEPTH, RESERVE_TREE_DEPTH,
};

/// The state as shared between the block builder (the only writer) and readers such as the
/// mempool and RPC.
pub type SharedState = std::sync::Arc<std::sync::RwLock<L2State>>;
