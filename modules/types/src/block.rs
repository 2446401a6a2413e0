//! L2 blocks and transaction receipts, as the node stores and serves them.

use alloy_primitives::{keccak256, Bytes, B256};
use serde::{Deserialize, Serialize};

use crate::field::fr_to_be_bytes;
use crate::pubdata::OpPubdata;
use crate::tx::{Deposit, FullExit, Op};
use crate::{ChainId, Fr};

/// One executed op of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockOp {
    /// Hash of the L2 transaction, `None` for priority ops and padding.
    pub tx_hash: Option<B256>,
    /// For priority ops: the chain and serial id of the request consumed.
    pub priority: Option<PriorityRef>,
    /// The 64-byte pubdata record.
    pub pubdata: Bytes,
}

impl BlockOp {
    /// The decoded pubdata.
    pub fn decoded(&self) -> OpPubdata {
        OpPubdata::decode(&self.pubdata).expect("block ops hold pubdata the node encoded")
    }
}

/// A consumed priority request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityRef {
    /// Chain of the request.
    pub chain: ChainId,
    /// Its position in the chain's priority queue.
    pub serial_id: u64,
}

/// A sealed L2 block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// Height; the genesis state is block 0, the first sealed block is 1.
    #[serde(with = "crate::quantity")]
    pub number: u32,
    /// Unix seconds at sealing.
    #[serde(with = "crate::quantity")]
    pub timestamp: u64,
    /// Hash of block `number - 1` (zero for block 1).
    pub parent_hash: B256,
    /// State root after the block.
    pub state_root: B256,
    /// Pubdata commitment after the block (the chain runs across blocks).
    pub pubdata_commitment: B256,
    /// Executed ops in order.
    pub ops: Vec<BlockOp>,
}

impl Block {
    /// The block hash: keccak256 of the header fields and of the concatenated pubdata.
    pub fn hash(&self) -> B256 {
        let pubdata: Vec<u8> = self
            .ops
            .iter()
            .flat_map(|op| op.pubdata.iter().copied())
            .collect();
        keccak256(
            [
                &self.number.to_be_bytes()[..],
                &self.timestamp.to_be_bytes(),
                self.parent_hash.as_slice(),
                self.state_root.as_slice(),
                self.pubdata_commitment.as_slice(),
                keccak256(pubdata).as_slice(),
            ]
            .concat(),
        )
    }
}

/// A field element as the 32-byte big-endian word contracts and JSON use.
pub fn fr_to_b256(x: &Fr) -> B256 {
    B256::from(fr_to_be_bytes(x))
}

/// What became of an acknowledged transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction.
    pub tx_hash: B256,
    /// Block that included it or, for a failed one, in which it was dropped.
    #[serde(with = "crate::quantity")]
    pub block_number: u32,
    /// Position in the block's ops, for an included transaction.
    #[serde(with = "crate::quantity::opt")]
    pub index: Option<u32>,
    /// Outcome.
    pub status: TxStatus,
    /// Why it failed, for a failed one.
    pub error: Option<String>,
}

/// Outcome of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TxStatus {
    /// Executed in the block.
    Included,
    /// Valid when acknowledged, refused by the state when its block was built (an earlier
    /// op, e.g. a full exit, changed what it relied on). It changed nothing.
    Failed,
}

/// A request taken from a chain's priority queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PriorityOp {
    /// See [`Deposit`].
    Deposit(Deposit),
    /// See [`FullExit`].
    FullExit(FullExit),
}

impl PriorityOp {
    /// Chain and position of the request.
    pub fn reference(&self) -> PriorityRef {
        match self {
            PriorityOp::Deposit(d) => PriorityRef {
                chain: d.chain,
                serial_id: d.serial_id,
            },
            PriorityOp::FullExit(e) => PriorityRef {
                chain: e.chain,
                serial_id: e.serial_id,
            },
        }
    }
}

impl From<PriorityOp> for Op {
    fn from(op: PriorityOp) -> Op {
        match op {
            PriorityOp::Deposit(d) => Op::Deposit(d),
            PriorityOp::FullExit(e) => Op::FullExit(e),
        }
    }
}
