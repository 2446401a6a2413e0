//! Sealed blocks as settlement needs them.

use manyfold_block_builder::BlockStore;
use manyfold_contracts::settlement::SettlementBlock;
use manyfold_types::ecdsa::EthSignature;
use manyfold_types::field::fr_from_be_bytes;
use manyfold_types::{ChainId, Fr, Op, OpPubdata};

use crate::error::{Result, SettlerError};

/// A sealed block: its header fields, its ops' pubdata and its ChangePubKey signatures.
#[derive(Debug, Clone)]
pub struct SealedBlock {
    /// L2 block number.
    pub number: u32,
    /// Its timestamp.
    pub timestamp: u64,
    /// State root after it.
    pub state_root: Fr,
    /// Every op's pubdata, in order.
    pub ops: Vec<OpPubdata>,
    /// Its ChangePubKey ops' Ethereum signatures with the chain that checks each.
    pub signatures: Vec<(ChainId, EthSignature)>,
}

impl SealedBlock {
    /// The block as the bookkeeping takes it.
    pub fn settlement(&self) -> SettlementBlock<'_> {
        SettlementBlock {
            number: self.number,
            timestamp: self.timestamp,
            state_root: self.state_root,
            ops: &self.ops,
            change_pubkey_signatures: &self.signatures,
        }
    }

    /// Whether the block has an onchain op for `chain`.
    pub fn touches(&self, chain: ChainId) -> bool {
        self.ops.iter().any(|op| op.onchain_for() == Some(chain))
    }
}

/// Where the settler reads sealed blocks from.
pub trait BlockSource: Send + Sync {
    /// The newest sealed block's number (0 before the first).
    fn height(&self) -> Result<u32>;
    /// Block `number`, once sealed.
    fn sealed(&self, number: u32) -> Result<Option<SealedBlock>>;
}

fn blocks_err(e: impl std::fmt::Display) -> SettlerError {
    SettlerError::Blocks(e.to_string())
}

impl BlockSource for BlockStore {
    fn height(&self) -> Result<u32> {
        BlockStore::height(self).map_err(blocks_err)
    }

    fn sealed(&self, number: u32) -> Result<Option<SealedBlock>> {
        let Some(block) = self.block(number).map_err(blocks_err)? else {
            return Ok(None);
        };
        let ops = self
            .block_ops(number)
            .map_err(blocks_err)?
            .ok_or_else(|| blocks_err(format!("block {number} is sealed without its ops")))?;
        let pubdata = block
            .ops
            .iter()
            .map(|op| {
                OpPubdata::decode(&op.pubdata)
                    .map_err(|e| blocks_err(format!("block {number}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let signatures = ops
            .iter()
            .filter_map(|op| match op {
                Op::ChangePubKey(c) => Some((c.chain, c.eth_signature)),
                _ => None,
            })
            .collect();
        let state_root = fr_from_be_bytes(&block.state_root.0)
            .map_err(|e| blocks_err(format!("block {number}: state root: {e}")))?;
        Ok(Some(SealedBlock {
            number,
            timestamp: block.timestamp,
            state_root,
            ops: pubdata,
            signatures,
        }))
    }
}
