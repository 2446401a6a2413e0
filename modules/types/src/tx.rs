//! Inputs of the state machine: signed L2 transactions and priority operations.

use alloy_primitives::{keccak256, Address, B256};
use serde::{Deserialize, Serialize};

use crate::ecdsa::EthSignature;
use crate::error::{check_len, invalid, Result};
use crate::field::{fr_from_be_chunk, fr_from_u128};
use crate::poseidon::{hash, Domain};
use crate::{
    AccountId, Amount, ChainId, Fr, Nonce, PrivateKey, PubKeyHash, PublicKey, Signature, TokenId,
};

/// A transaction body with its L2 signature.
///
/// The account leaf stores only the hash of the registered key, so the key itself travels
/// with every transaction; the state (and the circuit) check that it hashes to the leaf's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signed<T> {
    /// What was signed.
    #[serde(flatten)]
    pub body: T,
    /// The signer's key.
    pub public_key: PublicKey,
    /// Schnorr signature of `body.message()` by `public_key`.
    pub signature: Signature,
}

/// Moves `amount` of `token` from one account to another, existing, account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Sender, who signs.
    pub from: AccountId,
    /// Recipient.
    pub to: AccountId,
    /// Token.
    pub token: TokenId,
    /// L2 amount.
    pub amount: Amount,
    /// The sender's current nonce.
    pub nonce: Nonce,
}

impl Transfer {
    /// The field element the sender signs.
    pub fn message(&self) -> Fr {
        let packed = [
            &self.from.get().to_be_bytes()[..],
            &self.to.get().to_be_bytes(),
            &self.token.get().to_be_bytes(),
            &self.nonce.0.to_be_bytes(),
        ]
        .concat();
        hash(
            Domain::Transfer,
            &[fr_from_be_chunk(&packed), fr_from_u128(self.amount.0)],
        )
    }

    /// Signs with `key`.
    pub fn sign(self, key: &PrivateKey) -> Signed<Transfer> {
        Signed {
            public_key: key.public_key(),
            signature: key.sign(self.message()),
            body: self,
        }
    }
}

/// Withdraws `amount` of `token` to `to` on `chain`, claimable once the block executes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdraw {
    /// Debited account, who signs.
    pub account: AccountId,
    /// Destination chain.
    pub chain: ChainId,
    /// Token.
    pub token: TokenId,
    /// L2 amount.
    pub amount: Amount,
    /// Recipient on the destination chain.
    pub to: Address,
    /// The account's current nonce.
    pub nonce: Nonce,
}

impl Withdraw {
    /// The field element the account signs.
    pub fn message(&self) -> Fr {
        let packed = [
            &self.account.get().to_be_bytes()[..],
            &self.chain.get().to_be_bytes(),
            &self.token.get().to_be_bytes(),
            &self.nonce.0.to_be_bytes(),
        ]
        .concat();
        hash(
            Domain::Withdraw,
            &[
                fr_from_be_chunk(&packed),
                fr_from_u128(self.amount.0),
                fr_from_be_chunk(self.to.as_slice()),
            ],
        )
    }

    /// Signs with `key`.
    pub fn sign(self, key: &PrivateKey) -> Signed<Withdraw> {
        Signed {
            public_key: key.public_key(),
            signature: key.sign(self.message()),
            body: self,
        }
    }
}

/// Registers `pubkey_hash` as the account's L2 key, authorised by the Ethereum key of the
/// account's address (see [`crate::ecdsa`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePubKey {
    /// Account.
    pub account: AccountId,
    /// Chain whose contract verifies `eth_signature`.
    pub chain: ChainId,
    /// New key's hash.
    pub pubkey_hash: PubKeyHash,
    /// The account's current nonce.
    pub nonce: Nonce,
    /// Signature by the account address's Ethereum key.
    pub eth_signature: EthSignature,
}

/// A deposit taken by a chain's contract: a priority request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deposit {
    /// Chain that took the deposit.
    pub chain: ChainId,
    /// Position in that chain's priority queue.
    #[serde(with = "crate::quantity")]
    pub serial_id: u64,
    /// Owner; an account is created for it if it has none.
    pub address: Address,
    /// Token.
    pub token: TokenId,
    /// L2 amount.
    pub amount: Amount,
}

/// A full exit requested on a chain's contract: a priority request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FullExit {
    /// Chain of the request, which pays the exit.
    pub chain: ChainId,
    /// Position in that chain's priority queue.
    #[serde(with = "crate::quantity")]
    pub serial_id: u64,
    /// Account to exit.
    pub account: AccountId,
    /// Requester; paid only if it owns the account.
    pub address: Address,
    /// Token.
    pub token: TokenId,
}

/// A transaction submitted on L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum L2Tx {
    /// See [`Transfer`].
    Transfer(Signed<Transfer>),
    /// See [`Withdraw`].
    Withdraw(Signed<Withdraw>),
    /// See [`ChangePubKey`].
    ChangePubKey(ChangePubKey),
}

const TAG_TRANSFER: u8 = 2;
/// Public key and signature closing a signed transaction's encoding.
const SIGNED_SUFFIX: usize = 32 + Signature::BYTES;
const TAG_WITHDRAW: u8 = 3;
const TAG_CHANGE_PUBKEY: u8 = 5;

impl L2Tx {
    /// The account that sends it.
    pub fn account(&self) -> AccountId {
        match self {
            L2Tx::Transfer(t) => t.body.from,
            L2Tx::Withdraw(w) => w.body.account,
            L2Tx::ChangePubKey(c) => c.account,
        }
    }

    /// The nonce it uses.
    pub fn nonce(&self) -> Nonce {
        match self {
            L2Tx::Transfer(t) => t.body.nonce,
            L2Tx::Withdraw(w) => w.body.nonce,
            L2Tx::ChangePubKey(c) => c.nonce,
        }
    }

    /// The canonical binary encoding: a tag byte (the op type), fields big-endian, then
    /// the signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        match self {
            L2Tx::Transfer(Signed {
                body: t,
                public_key,
                signature,
            }) => {
                out.push(TAG_TRANSFER);
                out.extend(t.from.get().to_be_bytes());
                out.extend(t.to.get().to_be_bytes());
                out.extend(t.token.get().to_be_bytes());
                out.extend(t.amount.0.to_be_bytes());
                out.extend(t.nonce.0.to_be_bytes());
                out.extend(public_key.to_bytes());
                out.extend(signature.to_bytes());
            }
            L2Tx::Withdraw(Signed {
                body: w,
                public_key,
                signature,
            }) => {
                out.push(TAG_WITHDRAW);
                out.extend(w.account.get().to_be_bytes());
                out.extend(w.chain.get().to_be_bytes());
                out.extend(w.token.get().to_be_bytes());
                out.extend(w.amount.0.to_be_bytes());
                out.extend(w.to.as_slice());
                out.extend(w.nonce.0.to_be_bytes());
                out.extend(public_key.to_bytes());
                out.extend(signature.to_bytes());
            }
            L2Tx::ChangePubKey(c) => {
                out.push(TAG_CHANGE_PUBKEY);
                out.extend(c.account.get().to_be_bytes());
                out.extend(c.chain.get().to_be_bytes());
                out.extend(c.pubkey_hash.to_bytes());
                out.extend(c.nonce.0.to_be_bytes());
                out.extend(c.eth_signature.0);
            }
        }
        out
    }

    /// Parses [`L2Tx::encode`]'s output; every field is range-checked.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (&tag, rest) = bytes
            .split_first()
            .ok_or_else(|| invalid("transaction", "empty"))?;
        let mut r = Cursor(rest);
        let tx = match tag {
            TAG_TRANSFER => {
                check_len("transfer", rest, 4 + 4 + 2 + 16 + 4 + SIGNED_SUFFIX)?;
                let body = Transfer {
                    from: AccountId::new(r.u32())?,
                    to: AccountId::new(r.u32())?,
                    token: TokenId::new(r.u16())?,
                    amount: Amount(r.u128()),
                    nonce: Nonce(r.u32()),
                };
                L2Tx::Transfer(r.signed(body)?)
            }
            TAG_WITHDRAW => {
                check_len("withdraw", rest, 4 + 2 + 2 + 16 + 20 + 4 + SIGNED_SUFFIX)?;
                let body = Withdraw {
                    account: AccountId::new(r.u32())?,
                    chain: ChainId::new(r.u16())?,
                    token: TokenId::new(r.u16())?,
                    amount: Amount(r.u128()),
                    to: Address::from_slice(r.take(20)),
                    nonce: Nonce(r.u32()),
                };
                L2Tx::Withdraw(r.signed(body)?)
            }
            TAG_CHANGE_PUBKEY => {
                check_len("change pubkey", rest, 4 + 2 + 32 + 4 + 65)?;
                L2Tx::ChangePubKey(ChangePubKey {
                    account: AccountId::new(r.u32())?,
                    chain: ChainId::new(r.u16())?,
                    pubkey_hash: PubKeyHash::from_bytes(r.take(32).try_into().expect("32 bytes"))?,
                    nonce: Nonce(r.u32()),
                    eth_signature: EthSignature::from_bytes(r.take(65))?,
                })
            }
            other => return Err(invalid("transaction", format!("unknown type tag {other}"))),
        };
        Ok(tx)
    }

    /// The transaction hash: keccak256 of the canonical encoding.
    pub fn hash(&self) -> B256 {
        keccak256(self.encode())
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().expect("2 bytes"))
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().expect("4 bytes"))
    }
    fn u128(&mut self) -> u128 {
        u128::from_be_bytes(self.take(16).try_into().expect("16 bytes"))
    }
    fn signed<T>(&mut self, body: T) -> Result<Signed<T>> {
        Ok(Signed {
            body,
            public_key: PublicKey::from_bytes(self.take(32))?,
            signature: Signature::from_bytes(self.take(Signature::BYTES))?,
        })
    }
}

/// Anything the state machine applies: L2 transactions, priority operations, padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Op {
    /// See [`Deposit`].
    Deposit(Deposit),
    /// See [`FullExit`].
    FullExit(FullExit),
    /// See [`Transfer`].
    Transfer(Signed<Transfer>),
    /// See [`Withdraw`].
    Withdraw(Signed<Withdraw>),
    /// See [`ChangePubKey`].
    ChangePubKey(ChangePubKey),
    /// Padding: changes nothing.
    Noop,
}

impl From<L2Tx> for Op {
    fn from(tx: L2Tx) -> Op {
        match tx {
            L2Tx::Transfer(t) => Op::Transfer(t),
            L2Tx::Withdraw(w) => Op::Withdraw(w),
            L2Tx::ChangePubKey(c) => Op::ChangePubKey(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::l2_tx;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn binary_encoding_round_trips(tx in l2_tx()) {
            let bytes = tx.encode();
            prop_assert_eq!(L2Tx::decode(&bytes).unwrap(), tx);
            prop_assert!(L2Tx::decode(&bytes[..bytes.len() - 1]).is_err());
        }

        #[test]
        fn json_round_trips(tx in l2_tx()) {
            let json = serde_json::to_string(&tx).unwrap();
            prop_assert_eq!(serde_json::from_str::<L2Tx>(&json).unwrap(), tx);
        }
    }

    #[test]
    fn messages_bind_every_field() {
        let t = Transfer {
            from: AccountId::new(1).unwrap(),
            to: AccountId::new(2).unwrap(),
            token: TokenId::new(0).unwrap(),
            amount: Amount(5),
            nonce: Nonce(0),
        };
        let variants = [
            Transfer {
                from: AccountId::new(3).unwrap(),
                ..t
            },
            Transfer {
                to: AccountId::new(3).unwrap(),
                ..t
            },
            Transfer {
                token: TokenId::new(3).unwrap(),
                ..t
            },
            Transfer {
                amount: Amount(6),
                ..t
            },
            Transfer {
                nonce: Nonce(1),
                ..t
            },
        ];
        for v in variants {
            assert_ne!(v.message(), t.message(), "{v:?}");
        }
        assert!(L2Tx::decode(&[9]).is_err());
        assert!(L2Tx::decode(&[]).is_err());
    }
}
