//! Proptest strategies for protocol types (enabled by the `test-utils` feature).

use alloy_primitives::Address;
use proptest::prelude::*;

use crate::ecdsa::{eth_key_from_seed, sign_change_pubkey};
use crate::pubdata::OpPubdata;
use crate::tx::{ChangePubKey, L2Tx, Transfer, Withdraw};
use crate::{AccountId, Amount, ChainId, ChainSet, Nonce, PrivateKey, PubKeyHash, TokenId};

/// Any account id.
pub fn account_id() -> impl Strategy<Value = AccountId> {
    (0..=AccountId::MAX).prop_map(|v| AccountId::new(v).expect("in range"))
}

/// Any token id.
pub fn token_id() -> impl Strategy<Value = TokenId> {
    (0..=TokenId::MAX).prop_map(|v| TokenId::new(v).expect("in range"))
}

/// Any chain id.
pub fn chain_id() -> impl Strategy<Value = ChainId> {
    (0..=ChainId::MAX).prop_map(|v| ChainId::new(v).expect("in range"))
}

/// Any amount, biased to the edges of the range.
pub fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        Just(Amount::ZERO),
        Just(Amount::MAX),
        any::<u128>().prop_map(Amount)
    ]
}

/// Any address.
pub fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}

/// A pubkey hash of a real key.
pub fn pubkey_hash() -> impl Strategy<Value = PubKeyHash> {
    any::<u64>().prop_map(|seed| {
        PrivateKey::from_seed(&seed.to_be_bytes())
            .public_key()
            .hash()
    })
}

/// Any pubdata record.
pub fn op_pubdata() -> impl Strategy<Value = OpPubdata> {
    prop_oneof![
        Just(OpPubdata::Noop),
        (
            chain_id(),
            account_id(),
            token_id(),
            amount(),
            address(),
            any::<bool>()
        )
            .prop_map(|(chain, account, token, amount, address, refunded)| {
                OpPubdata::Deposit {
                    chain,
                    // A refunded deposit credits no account and says so with account 0.
                    account: if refunded {
                        AccountId::new(0).expect("0")
                    } else {
                        account
                    },
                    token,
                    amount,
                    address,
                    refunded,
                }
            }),
        (account_id(), account_id(), token_id(), amount()).prop_map(|(from, to, token, amount)| {
            OpPubdata::Transfer {
                from,
                to,
                token,
                amount,
            }
        }),
        (chain_id(), account_id(), token_id(), amount(), address()).prop_map(
            |(chain, account, token, amount, address)| OpPubdata::Withdraw {
                chain,
                account,
                token,
                amount,
                address
            }
        ),
        (chain_id(), account_id(), token_id(), amount(), address()).prop_map(
            |(chain, account, token, amount, address)| OpPubdata::FullExit {
                chain,
                account,
                token,
                amount,
                address
            }
        ),
        (
            chain_id(),
            account_id(),
            pubkey_hash(),
            address(),
            any::<u32>()
        )
            .prop_map(|(chain, account, pubkey_hash, address, nonce)| {
                OpPubdata::ChangePubKey {
                    chain,
                    account,
                    pubkey_hash,
                    address,
                    nonce: Nonce(nonce),
                }
            }),
    ]
}

/// Any signed L2 transaction (signatures valid for a key derived from `seed`).
pub fn l2_tx() -> impl Strategy<Value = L2Tx> {
    let key = any::<u64>().prop_map(|seed| PrivateKey::from_seed(&seed.to_be_bytes()));
    prop_oneof![
        (
            key.clone(),
            account_id(),
            account_id(),
            token_id(),
            amount(),
            any::<u32>()
        )
            .prop_map(|(key, from, to, token, amount, nonce)| L2Tx::Transfer(
                Transfer {
                    from,
                    to,
                    token,
                    amount,
                    nonce: Nonce(nonce)
                }
                .sign(&key)
            )),
        (
            key,
            account_id(),
            chain_id(),
            token_id(),
            amount(),
            address(),
            any::<u32>()
        )
            .prop_map(
                |(key, account, chain, token, amount, to, nonce)| L2Tx::Withdraw(
                    Withdraw {
                        account,
                        chain,
                        token,
                        amount,
                        to,
                        nonce: Nonce(nonce)
                    }
                    .sign(&key)
                )
            ),
        (
            any::<u64>(),
            account_id(),
            chain_id(),
            pubkey_hash(),
            any::<u32>()
        )
            .prop_map(|(seed, account, chain, pubkey_hash, nonce)| {
                let eth = eth_key_from_seed(&seed.to_be_bytes());
                // Signed for the chain's domain in the largest local chain set, so that
                // any chain id the strategy draws has one.
                let chains = ChainSet::local(usize::from(ChainId::MAX) + 1);
                let domain = chains.domain(chain).expect("every chain id is in the set");
                let eth_signature =
                    sign_change_pubkey(domain, &eth, pubkey_hash, Nonce(nonce), account);
                L2Tx::ChangePubKey(ChangePubKey {
                    account,
                    chain,
                    pubkey_hash,
                    nonce: Nonce(nonce),
                    eth_signature,
                })
            }),
    ]
}
