//! Merkle proofs of accounts and balances against the state root (exodus exits use them).

use alloy_primitives::Address;
use manyfold_types::field::fr_from_u128;
use manyfold_types::{AccountId, Amount, Fr, Nonce, PubKeyHash, TokenId};

use crate::state::{account_leaf_hash, ACCOUNT_TREE_DEPTH, BALANCE_TREE_DEPTH};
use crate::tree::MerklePath;

/// Proof of an account leaf against a state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The account.
    pub account: AccountId,
    /// Its address, `None` if the leaf is empty (no such account).
    pub address: Option<Address>,
    /// Its key hash.
    pub pubkey_hash: PubKeyHash,
    /// Its nonce.
    pub nonce: Nonce,
    /// Root of its balance tree.
    pub balance_root: Fr,
    /// Siblings up the account tree.
    pub path: MerklePath,
    /// The reserves root, beside the accounts root in the state root.
    pub reserves_root: Fr,
    /// The number of accounts, the third input of the state root.
    pub account_count: u32,
}

impl AccountProof {
    /// The leaf this proof claims.
    pub fn leaf(&self) -> Fr {
        match self.address {
            Some(address) => {
                account_leaf_hash(address, self.pubkey_hash, self.nonce, self.balance_root)
            }
            None => Fr::from(0u64),
        }
    }

    /// Whether the proof holds against `state_root`.
    pub fn verify(&self, state_root: Fr) -> bool {
        if self.path.0.len() != ACCOUNT_TREE_DEPTH {
            return false;
        }
        let accounts_root = self.path.root_of(self.account.get() as u64, self.leaf());
        crate::state::state_root(accounts_root, self.reserves_root, self.account_count)
            == state_root
    }
}

/// Proof of a balance within an account's balance tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceProof {
    /// The token.
    pub token: TokenId,
    /// The balance.
    pub balance: Amount,
    /// Siblings up the balance tree.
    pub path: MerklePath,
}

impl BalanceProof {
    /// Whether the proof holds against `balance_root`.
    pub fn verify(&self, balance_root: Fr) -> bool {
        self.path.0.len() == BALANCE_TREE_DEPTH
            && self.path.verify(
                balance_root,
                self.token.get() as u64,
                fr_from_u128(self.balance.0),
            )
    }
}

/// An account proof and a balance proof under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitProof {
    /// The account leaf.
    pub account: AccountProof,
    /// The balance within it.
    pub balance: BalanceProof,
}

impl ExitProof {
    /// Whether both proofs hold and chain up to `state_root`.
    pub fn verify(&self, state_root: Fr) -> bool {
        self.account.verify(state_root) && self.balance.verify(self.account.balance_root)
    }
}
