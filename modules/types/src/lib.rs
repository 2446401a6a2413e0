//! Types shared by every Manyfold crate.
//!
//! - [`ids`]: account, token and chain ids, nonces, with their protocol limits.
//! - [`amount`]: 18-decimal L2 amounts and conversion from a chain's local decimals.
//! - [`poseidon`]: the Poseidon hash over BN254's scalar field, from nova-snark, so that the
//!   circuit and the native state compute exactly the same values.
//! - [`keys`]: L2 keys and Schnorr signatures over Grumpkin.
//! - [`tx`]: signed L2 transactions and priority operations, the inputs of the state.
//! - [`pubdata`]: the fixed-width pubdata of each executed operation, and the pubdata
//!   commitment proven by the circuit and recomputed by the primary contract.
//! - [`ecdsa`]: the Ethereum-key authorisation of ChangePubKey.
//! - [`block`]: sealed blocks, receipts, priority ops.
//! - [`chains`]: the chain set fixed at genesis, with each chain's signing domain.

pub mod amount;
pub mod block;
pub mod chains;
pub mod crash;
pub mod ecdsa;
pub mod error;
pub mod field;
pub mod ids;
pub mod keys;
pub mod mnemonic;
pub mod poseidon;
pub mod pubdata;
pub mod quantity;
#[cfg(any(test, feature = "test-utils"))]
pub mod strategies;
pub mod tx;

pub use alloy_primitives::{keccak256, Address, B256, U256};
pub use amount::Amount;
pub use block::{Block, BlockOp, PriorityOp, PriorityRef, Receipt, TxStatus};
pub use chains::{ChainDomain, ChainSet};
pub use error::TypesError;
pub use field::Fr;
pub use ids::{AccountId, ChainId, Nonce, TokenId};
pub use keys::{PrivateKey, PubKeyHash, PublicKey, Signature};
pub use pubdata::{OpPubdata, OpType, PUBDATA_BYTES};
pub use tx::{ChangePubKey, Deposit, FullExit, L2Tx, Op, Signed, Transfer, Withdraw};
