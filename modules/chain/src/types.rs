//! The values chains answer with.

use alloy_primitives::{Address, Bytes, B256, U256};
use serde::{Deserialize, Serialize};

/// A block as the node needs to know it: enough to follow the chain and notice reorgs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockRef {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// Hash of the block it builds on; a reorg shows as a parent that is not the hash the
    /// reader saw at `number - 1`.
    pub parent_hash: B256,
    /// Seconds since the Unix epoch, as the chain stamped it.
    pub timestamp: u64,
}

/// The heads a chain names by tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockTag {
    /// The newest block; may be reorged away.
    Latest,
    /// The chain's own "safe" head (on Ethereum: justified).
    Safe,
    /// The chain's own "finalized" head: never reorged.
    Finalized,
}

impl std::fmt::Display for BlockTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Latest => "latest",
            Self::Safe => "safe",
            Self::Finalized => "finalized",
        })
    }
}

/// Which block a read is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockId {
    /// By height, on the chain the plugin currently sees as canonical.
    Number(u64),
    /// By hash, canonical or not.
    Hash(B256),
    /// A named head.
    Tag(BlockTag),
}

impl From<BlockTag> for BlockId {
    fn from(tag: BlockTag) -> Self {
        Self::Tag(tag)
    }
}

impl From<u64> for BlockId {
    fn from(number: u64) -> Self {
        Self::Number(number)
    }
}

impl std::fmt::Display for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "block {n}"),
            Self::Hash(h) => write!(f, "block {h}"),
            Self::Tag(t) => write!(f, "the {t} block"),
        }
    }
}

/// An event log, with where it was emitted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Log {
    /// The emitting contract.
    pub address: Address,
    /// Indexed topics; the first is the event's signature hash.
    pub topics: Vec<B256>,
    /// Non-indexed data.
    pub data: Bytes,
    /// Height of the block it is in.
    pub block_number: u64,
    /// Hash of that block, so a reader can tell whether it is still canonical.
    pub block_hash: B256,
    /// The transaction that emitted it.
    pub tx_hash: B256,
    /// Position among the block's logs.
    pub log_index: u64,
}

/// Which logs to read: an inclusive block range, emitters and topics.
///
/// An empty address list matches every emitter; an empty topic position matches every
/// topic there; otherwise a position matches any of the topics it lists (as in
/// `eth_getLogs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFilter {
    /// First block read.
    pub from_block: u64,
    /// Last block read (inclusive). Callers bound it by the chain's finality rule.
    pub to_block: u64,
    /// Emitters; empty for any.
    pub addresses: Vec<Address>,
    /// Topic alternatives per position; empty for any.
    pub topics: [Vec<B256>; 4],
}

impl LogFilter {
    /// Every log of blocks `from..=to`.
    pub fn range(from_block: u64, to_block: u64) -> Self {
        Self {
            from_block,
            to_block,
            ..Self::default()
        }
    }

    /// Also accepts logs emitted by `address`.
    pub fn address(mut self, address: Address) -> Self {
        self.addresses.push(address);
        self
    }

    /// Also accepts `topic` at `position` (0 to 3; 0 is the event signature).
    ///
    /// # Panics
    /// If `position` is 4 or more: EVM logs have at most four topics.
    pub fn topic(mut self, position: usize, topic: B256) -> Self {
        assert!(position < 4, "a log has at most four topics");
        self.topics[position].push(topic);
        self
    }

    /// Whether `log` passes this filter, its block range included.
    pub fn matches(&self, log: &Log) -> bool {
        (self.from_block..=self.to_block).contains(&log.block_number)
            && (self.addresses.is_empty() || self.addresses.contains(&log.address))
            && self.topics.iter().enumerate().all(|(i, wanted)| {
                wanted.is_empty() || log.topics.get(i).is_some_and(|t| wanted.contains(t))
            })
    }
}

/// A read-only call (`eth_call`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRequest {
    /// Caller, when the callee looks at it.
    pub from: Option<Address>,
    /// Callee.
    pub to: Address,
    /// Calldata.
    pub input: Bytes,
    /// Value sent along.
    pub value: U256,
    /// Gas limit; the plugin's default when `None`.
    pub gas: Option<u64>,
}

impl CallRequest {
    /// A call of `to` with `input`, nothing else set.
    pub fn new(to: Address, input: impl Into<Bytes>) -> Self {
        Self {
            to,
            input: input.into(),
            ..Self::default()
        }
    }
}

/// A mined transaction's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction.
    pub tx_hash: B256,
    /// `false` when it reverted.
    pub success: bool,
    /// Height of the block it is in.
    pub block_number: u64,
    /// Hash of that block.
    pub block_hash: B256,
    /// Gas it used.
    pub gas_used: u64,
    /// Price paid per gas, in wei.
    pub effective_gas_price: u128,
    /// The contract it created, for a deployment.
    pub contract_address: Option<Address>,
    /// Logs it emitted (none when it reverted).
    pub logs: Vec<Log>,
}

/// An EIP-1559 fee estimate for a transaction sent now, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeEstimate {
    /// The next block's base fee.
    pub base_fee_per_gas: u128,
    /// Suggested `maxFeePerGas`: what the sender pays at most, base fee included.
    pub max_fee_per_gas: u128,
    /// Suggested `maxPriorityFeePerGas`: the tip.
    pub max_priority_fee_per_gas: u128,
}

/// Where a sent transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TxStatus {
    /// Known to the chain, not in a block yet.
    Pending,
    /// In a block of the chain the plugin sees as canonical. A reorg can move it back to
    /// `Pending` or `Unknown` until that block is final.
    Mined {
        /// Height of the block.
        block_number: u64,
        /// Hash of the block.
        block_hash: B256,
        /// `false` when it reverted: a settlement transaction that reverted stops its
        /// pipeline rather than being retried (DESIGN §7).
        success: bool,
    },
    /// The chain will never include it (for instance another transaction used its nonce).
    Dropped,
    /// The chain does not know it: never received, or forgotten.
    Unknown,
}

/// What a plugin can do beyond the traits every chain implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// The chain verifies Manyfold's folding proofs natively, so it can be the primary
    /// (DESIGN §5, §10).
    pub verifies_proofs: bool,
}

impl Capabilities {
    /// No capabilities: a secondary chain.
    pub const NONE: Self = Self {
        verifies_proofs: false,
    };

    /// These capabilities, and the chain verifies proofs.
    pub const fn with_proof_verification(mut self) -> Self {
        self.verifies_proofs = true;
        self
    }
}
