//! What the engine persists, as typed tables of the storage trait.
//!
//! Keys are big-endian numbers or raw hashes and addresses, so blocks and logs are read by
//! number ranges with a seek. Records that are not plain numbers are JSON: readable with
//! any tool, and the serde shapes of alloy's types, which are stable.

use alloy_consensus::Header;
use alloy_primitives::{Address, Bytes, Log, B256, U256};
use manyfold_storage::{Codec, CodecError, Table};
use serde::{Deserialize, Serialize};

pub(crate) use manyfold_storage::Json;

/// An account's balance, nonce and code hash: 32 + 8 + 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AccountRecord {
    pub(crate) balance: U256,
    pub(crate) nonce: u64,
    pub(crate) code_hash: B256,
}

impl Codec for AccountRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(72);
        out.extend_from_slice(&self.balance.to_be_bytes::<32>());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(self.code_hash.as_slice());
        out
    }
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() != 72 {
            return Err(CodecError::Length {
                expected: 72,
                actual: bytes.len(),
            });
        }
        Ok(Self {
            balance: U256::from_be_slice(&bytes[..32]),
            nonce: u64::from_be_bytes(bytes[32..40].try_into().expect("8 bytes")),
            code_hash: B256::from_slice(&bytes[40..]),
        })
    }
}

/// Single values: the chain id.
pub(crate) struct Meta;
impl Table for Meta {
    const NAME: &'static str = "embedded.meta";
    type Key = Vec<u8>;
    type Value = u64;
}
/// The key of the chain id in [`Meta`].
pub(crate) const CHAIN_ID_KEY: &[u8] = b"chain_id";

/// Accounts by address.
pub(crate) struct Accounts;
impl Table for Accounts {
    const NAME: &'static str = "embedded.accounts";
    type Key = [u8; 20];
    type Value = AccountRecord;
}

/// Contract code by its hash.
pub(crate) struct Code;
impl Table for Code {
    const NAME: &'static str = "embedded.code";
    type Key = [u8; 32];
    type Value = Vec<u8>;
}

/// Non-zero storage slots by (account, slot).
pub(crate) struct Slots;
impl Table for Slots {
    const NAME: &'static str = "embedded.slots";
    type Key = ([u8; 20], [u8; 32]);
    type Value = [u8; 32];
}

/// Blocks by number.
pub(crate) struct Blocks;
impl Table for Blocks {
    const NAME: &'static str = "embedded.blocks";
    type Key = u64;
    type Value = Json<StoredBlock>;
}

/// Block numbers by hash.
pub(crate) struct BlockHashes;
impl Table for BlockHashes {
    const NAME: &'static str = "embedded.block_hashes";
    type Key = [u8; 32];
    type Value = u64;
}

/// Mined transactions by hash.
pub(crate) struct Txs;
impl Table for Txs {
    const NAME: &'static str = "embedded.txs";
    type Key = [u8; 32];
    type Value = Json<StoredTx>;
}

/// Receipts by transaction hash.
pub(crate) struct Receipts;
impl Table for Receipts {
    const NAME: &'static str = "embedded.receipts";
    type Key = [u8; 32];
    type Value = Json<StoredReceipt>;
}

/// The logs of each block that has any, by block number.
pub(crate) struct BlockLogs;
impl Table for BlockLogs {
    const NAME: &'static str = "embedded.logs";
    type Key = u64;
    type Value = Json<StoredBlockLogs>;
}

/// Accepted, not yet mined transactions (raw EIP-2718 bytes) by hash, so that an
/// acknowledged transaction survives a restart.
pub(crate) struct Pending;
impl Table for Pending {
    const NAME: &'static str = "embedded.pending";
    type Key = [u8; 32];
    type Value = Vec<u8>;
}

/// A block: its header, its hash and its transactions' hashes in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredBlock {
    pub(crate) hash: B256,
    pub(crate) header: Header,
    pub(crate) transactions: Vec<B256>,
}

/// A mined transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredTx {
    /// The EIP-2718 envelope as sent.
    pub(crate) raw: Bytes,
    pub(crate) sender: Address,
    pub(crate) block_number: u64,
    pub(crate) block_hash: B256,
    pub(crate) index: u64,
}

/// A mined transaction's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredReceipt {
    pub(crate) tx_hash: B256,
    pub(crate) tx_index: u64,
    pub(crate) tx_type: u8,
    pub(crate) block_number: u64,
    pub(crate) block_hash: B256,
    pub(crate) block_timestamp: u64,
    pub(crate) from: Address,
    pub(crate) to: Option<Address>,
    pub(crate) contract_address: Option<Address>,
    pub(crate) success: bool,
    pub(crate) gas_used: u64,
    pub(crate) cumulative_gas_used: u64,
    pub(crate) effective_gas_price: u128,
    /// The index in the block of this transaction's first log.
    pub(crate) first_log_index: u64,
    pub(crate) logs: Vec<Log>,
}

/// One log with where it was emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredLog {
    pub(crate) log: Log,
    pub(crate) tx_hash: B256,
    pub(crate) tx_index: u64,
    pub(crate) log_index: u64,
}

/// A block's logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredBlockLogs {
    pub(crate) block_hash: B256,
    pub(crate) timestamp: u64,
    pub(crate) logs: Vec<StoredLog>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_records_round_trip_and_refuse_other_lengths() {
        let record = AccountRecord {
            balance: U256::MAX - U256::from(7u64),
            nonce: u64::MAX - 1,
            code_hash: B256::repeat_byte(0xc0),
        };
        assert_eq!(AccountRecord::decode(&record.encode()).unwrap(), record);
        assert!(AccountRecord::decode(&[0; 71]).is_err());
        assert!(Json::<StoredTx>::decode(b"{}").is_err());
    }
}
