//! The pubdata of executed operations and the pubdata commitment.
//!
//! Every operation, whatever its type, publishes exactly [`PUBDATA_BYTES`] bytes: a type
//! byte, its fields big-endian, zero padding. One width for all keeps the circuit's step
//! uniform (each step absorbs the same three field elements) and lets contracts walk the
//! pubdata in fixed strides; the price is calldata for the short Transfer and Noop, which
//! is accepted for now and noted in the docs.
//!
//! | op | layout after the type byte |
//! |---|---|
//! | Noop (0) | nothing |
//! | Deposit (1) | chain u16, account u32, token u16, amount u128, address 20, refunded u8 |
//! | Transfer (2) | from u32, to u32, token u16, amount u128 |
//! | Withdraw (3) | chain u16, account u32, token u16, amount u128, address 20 |
//! | FullExit (4) | chain u16, account u32, token u16, amount u128, address 20 |
//! | ChangePubKey (5) | chain u16, account u32, pubkey hash 32, address 20, nonce u32 |
//!
//! A deposit that cannot be credited (no free account slot, or a balance or reserve that
//! would overflow) is still processed, so that it consumes its priority request: it
//! publishes `refunded = 1` and account 0, changes nothing on L2, and its own chain's
//! contract refunds the depositor when the block executes (DESIGN §4).
//!
//! The pubdata commitment is a hash chain over all pubdata since genesis:
//! `c' = H_pubdata(c, e0, e1, e2)` where `e0, e1, e2` are the record's bytes `[0..31]`,
//! `[31..62]`, `[62..64]` read as big-endian integers. The IVC state carries `c`, and the
//! primary contract recomputes it from the committed pubdata.

use alloy_primitives::Address;

use crate::error::{check_len, invalid, Result};
use crate::field::fr_from_be_chunk;
use crate::poseidon::{hash, Domain};
use crate::{AccountId, Amount, ChainId, Fr, Nonce, PubKeyHash, TokenId};

/// Bytes of pubdata per operation.
pub const PUBDATA_BYTES: usize = 64;

/// Field elements one pubdata record is absorbed as.
pub const PUBDATA_CHUNKS: usize = 3;

/// Operation type tags, the first pubdata byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpType {
    /// Padding.
    Noop = 0,
    /// Priority deposit.
    Deposit = 1,
    /// L2 transfer.
    Transfer = 2,
    /// L2 withdrawal to a chain.
    Withdraw = 3,
    /// Priority full exit.
    FullExit = 4,
    /// Key registration authorised by the account's Ethereum key.
    ChangePubKey = 5,
}

impl OpType {
    /// All types, in tag order.
    pub const ALL: [OpType; 6] = [
        OpType::Noop,
        OpType::Deposit,
        OpType::Transfer,
        OpType::Withdraw,
        OpType::FullExit,
        OpType::ChangePubKey,
    ];

    /// The type of a tag byte.
    pub fn from_tag(tag: u8) -> Option<OpType> {
        Self::ALL.get(tag as usize).copied()
    }

    /// Whether ops of this type come from a chain's priority queue.
    pub fn is_priority(self) -> bool {
        matches!(self, OpType::Deposit | OpType::FullExit)
    }
}

/// The public data of one executed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpPubdata {
    /// See [`OpType::Noop`].
    Noop,
    /// A deposit credited to `account` (created if `address` had none), or refunded.
    Deposit {
        /// Chain the deposit was made on.
        chain: ChainId,
        /// Credited account; 0 when refunded.
        account: AccountId,
        /// Token.
        token: TokenId,
        /// L2 amount.
        amount: Amount,
        /// Owner address.
        address: Address,
        /// The deposit could not be credited: its chain refunds `address` at execution.
        refunded: bool,
    },
    /// A transfer between accounts.
    Transfer {
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Token.
        token: TokenId,
        /// L2 amount.
        amount: Amount,
    },
    /// A withdrawal made claimable to `address` on `chain`.
    Withdraw {
        /// Destination chain.
        chain: ChainId,
        /// Debited account.
        account: AccountId,
        /// Token.
        token: TokenId,
        /// L2 amount.
        amount: Amount,
        /// Recipient on the destination chain.
        address: Address,
    },
    /// A full exit; `amount` is zero when it could not be paid.
    FullExit {
        /// Chain the request was made on, and paid on.
        chain: ChainId,
        /// Exited account.
        account: AccountId,
        /// Token.
        token: TokenId,
        /// L2 amount paid.
        amount: Amount,
        /// Requester, and recipient.
        address: Address,
    },
    /// A key registration.
    ChangePubKey {
        /// Chain whose contract checks the Ethereum signature.
        chain: ChainId,
        /// Account.
        account: AccountId,
        /// New L2 key's hash.
        pubkey_hash: PubKeyHash,
        /// The account's address, the expected signer.
        address: Address,
        /// Nonce the change used.
        nonce: Nonce,
    },
}

impl OpPubdata {
    /// The operation type.
    pub fn op_type(&self) -> OpType {
        match self {
            OpPubdata::Noop => OpType::Noop,
            OpPubdata::Deposit { .. } => OpType::Deposit,
            OpPubdata::Transfer { .. } => OpType::Transfer,
            OpPubdata::Withdraw { .. } => OpType::Withdraw,
            OpPubdata::FullExit { .. } => OpType::FullExit,
            OpPubdata::ChangePubKey { .. } => OpType::ChangePubKey,
        }
    }

    /// The chain this op must be committed on besides the primary, if any: the chain
    /// whose ops hash includes it.
    pub fn onchain_for(&self) -> Option<ChainId> {
        match self {
            OpPubdata::Noop | OpPubdata::Transfer { .. } => None,
            OpPubdata::Deposit { chain, .. }
            | OpPubdata::Withdraw { chain, .. }
            | OpPubdata::FullExit { chain, .. }
            | OpPubdata::ChangePubKey { chain, .. } => Some(*chain),
        }
    }

    /// The fixed-width encoding.
    pub fn encode(&self) -> [u8; PUBDATA_BYTES] {
        let mut w = Writer::default();
        w.put(&[self.op_type() as u8]);
        match *self {
            OpPubdata::Noop => {}
            OpPubdata::Transfer {
                from,
                to,
                token,
                amount,
            } => {
                w.put(&from.get().to_be_bytes());
                w.put(&to.get().to_be_bytes());
                w.put(&token.get().to_be_bytes());
                w.put(&amount.0.to_be_bytes());
            }
            OpPubdata::Deposit {
                chain,
                account,
                token,
                amount,
                address,
                refunded,
            } => {
                w.put_transfer_out(chain, account, token, amount, address);
                w.put(&[refunded as u8]);
            }
            OpPubdata::Withdraw {
                chain,
                account,
                token,
                amount,
                address,
            }
            | OpPubdata::FullExit {
                chain,
                account,
                token,
                amount,
                address,
            } => w.put_transfer_out(chain, account, token, amount, address),
            OpPubdata::ChangePubKey {
                chain,
                account,
                pubkey_hash,
                address,
                nonce,
            } => {
                w.put(&chain.get().to_be_bytes());
                w.put(&account.get().to_be_bytes());
                w.put(&pubkey_hash.to_bytes());
                w.put(address.as_slice());
                w.put(&nonce.0.to_be_bytes());
            }
        }
        w.buf
    }

    /// Parses one record, rejecting unknown types, out-of-range ids, non-canonical field
    /// elements and non-zero padding (so that every op has exactly one encoding).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        check_len("pubdata", bytes, PUBDATA_BYTES)?;
        let op_type = OpType::from_tag(bytes[0])
            .ok_or_else(|| invalid("pubdata", format!("unknown op type {}", bytes[0])))?;
        let mut r = Reader { buf: bytes, pos: 1 };
        let op = match op_type {
            OpType::Noop => OpPubdata::Noop,
            OpType::Transfer => OpPubdata::Transfer {
                from: AccountId::new(r.u32())?,
                to: AccountId::new(r.u32())?,
                token: TokenId::new(r.u16())?,
                amount: Amount(r.u128()),
            },
            OpType::Deposit | OpType::Withdraw | OpType::FullExit => {
                let chain = ChainId::new(r.u16())?;
                let account = AccountId::new(r.u32())?;
                let token = TokenId::new(r.u16())?;
                let amount = Amount(r.u128());
                let address = Address::from_slice(r.take(20));
                match op_type {
                    OpType::Deposit => {
                        let refunded = match r.take(1)[0] {
                            0 => false,
                            1 => true,
                            other => {
                                return Err(invalid(
                                    "pubdata",
                                    format!("deposit refund flag {other}, not 0 or 1"),
                                ))
                            }
                        };
                        if refunded && account.get() != 0 {
                            return Err(invalid("pubdata", "a refunded deposit names an account"));
                        }
                        OpPubdata::Deposit {
                            chain,
                            account,
                            token,
                            amount,
                            address,
                            refunded,
                        }
                    }
                    OpType::Withdraw => OpPubdata::Withdraw {
                        chain,
                        account,
                        token,
                        amount,
                        address,
                    },
                    _ => OpPubdata::FullExit {
                        chain,
                        account,
                        token,
                        amount,
                        address,
                    },
                }
            }
            OpType::ChangePubKey => OpPubdata::ChangePubKey {
                chain: ChainId::new(r.u16())?,
                account: AccountId::new(r.u32())?,
                pubkey_hash: PubKeyHash::from_bytes(r.take(32).try_into().expect("32 bytes"))?,
                address: Address::from_slice(r.take(20)),
                nonce: Nonce(r.u32()),
            },
        };
        if bytes[r.pos..].iter().any(|b| *b != 0) {
            return Err(invalid("pubdata", "non-zero padding"));
        }
        Ok(op)
    }

    /// The record as the field elements the commitment absorbs.
    pub fn chunks(&self) -> [Fr; PUBDATA_CHUNKS] {
        chunks_of(&self.encode())
    }
}

/// The field elements of a raw record: bytes `[0..31]`, `[31..62]`, `[62..64]`.
pub fn chunks_of(record: &[u8; PUBDATA_BYTES]) -> [Fr; PUBDATA_CHUNKS] {
    [
        fr_from_be_chunk(&record[0..31]),
        fr_from_be_chunk(&record[31..62]),
        fr_from_be_chunk(&record[62..64]),
    ]
}

/// One link of the pubdata commitment chain.
pub fn extend_commitment(commitment: Fr, record: &OpPubdata) -> Fr {
    let [e0, e1, e2] = record.chunks();
    hash(Domain::Pubdata, &[commitment, e0, e1, e2])
}

struct Writer {
    buf: [u8; PUBDATA_BYTES],
    pos: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Self {
            buf: [0u8; PUBDATA_BYTES],
            pos: 0,
        }
    }
}

impl Writer {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// The fields Deposit, Withdraw and FullExit share, in their order.
    fn put_transfer_out(
        &mut self,
        chain: ChainId,
        account: AccountId,
        token: TokenId,
        amount: Amount,
        address: Address,
    ) {
        self.put(&chain.get().to_be_bytes());
        self.put(&account.get().to_be_bytes());
        self.put(&token.get().to_be_bytes());
        self.put(&amount.0.to_be_bytes());
        self.put(address.as_slice());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        out
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::op_pubdata;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encoding_round_trips(op in op_pubdata()) {
            let bytes = op.encode();
            prop_assert_eq!(OpPubdata::decode(&bytes).unwrap(), op);
            prop_assert_eq!(bytes[0], op.op_type() as u8);
        }

        #[test]
        fn any_single_byte_change_is_rejected_or_decodes_differently(op in op_pubdata(), at in 0usize..PUBDATA_BYTES, flip in 1u8..=255) {
            let mut bytes = op.encode();
            bytes[at] ^= flip;
            if let Ok(other) = OpPubdata::decode(&bytes) {
                prop_assert_ne!(other, op);
            }
        }

        #[test]
        fn commitment_binds_every_record(a in op_pubdata(), b in op_pubdata()) {
            let c0 = Fr::from(7u64);
            prop_assert_eq!(extend_commitment(c0, &a) == extend_commitment(c0, &b), a == b);
        }
    }

    #[test]
    fn bad_records_are_rejected() {
        assert!(OpPubdata::decode(&[0u8; 63]).is_err());
        let mut unknown = [0u8; PUBDATA_BYTES];
        unknown[0] = 6;
        assert!(OpPubdata::decode(&unknown).is_err());
        let mut padded = OpPubdata::Noop.encode();
        padded[63] = 1;
        assert!(OpPubdata::decode(&padded).is_err());
        let mut big_chain = OpPubdata::Withdraw {
            chain: ChainId::new(1).unwrap(),
            account: AccountId::new(1).unwrap(),
            token: TokenId::new(1).unwrap(),
            amount: Amount(1),
            address: Address::ZERO,
        }
        .encode();
        big_chain[1] = 1; // chain 257
        assert!(OpPubdata::decode(&big_chain).is_err());
        let deposit = |refunded| OpPubdata::Deposit {
            chain: ChainId::new(1).unwrap(),
            account: AccountId::new(0).unwrap(),
            token: TokenId::new(1).unwrap(),
            amount: Amount(5),
            address: Address::repeat_byte(7),
            refunded,
        };
        assert_eq!(deposit(true).encode()[45], 1);
        assert_eq!(deposit(false).encode()[45], 0);
        let mut bad_flag = deposit(true).encode();
        bad_flag[45] = 2;
        assert!(OpPubdata::decode(&bad_flag).is_err());
        let mut refunded_with_account = deposit(true).encode();
        refunded_with_account[6] = 3;
        assert!(OpPubdata::decode(&refunded_with_account).is_err());
    }
}
