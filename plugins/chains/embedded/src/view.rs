//! The chain's data in the shapes of Ethereum's JSON-RPC (alloy's RPC types), for the
//! server and for callers that want standard types.

use alloy_consensus::transaction::Recovered;
use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Decodable2718;
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{logs_bloom, B256, U256};
use alloy_rlp::Encodable;
use alloy_rpc_types_eth::{
    Block, BlockTransactions, FeeHistory, Filter, FilterBlockOption, Header as RpcHeader,
    Log as RpcLog, Transaction as RpcTransaction, TransactionReceipt,
};
use manyfold_chain::{BlockId, ChainError};

use crate::chain::{receipt_envelope, EmbeddedChain};
use crate::error::EmbeddedError;
use crate::tables::{StoredBlock, StoredReceipt, StoredTx};

/// The most blocks one `eth_feeHistory` reports on (geth's limit); a larger count is
/// lowered to it.
pub const MAX_FEE_HISTORY: u64 = 1024;

fn rpc_log(log: &alloy_primitives::Log, r: &StoredReceipt, index: u64) -> RpcLog {
    RpcLog {
        inner: log.clone(),
        block_hash: Some(r.block_hash),
        block_number: Some(r.block_number),
        block_timestamp: Some(r.block_timestamp),
        transaction_hash: Some(r.tx_hash),
        transaction_index: Some(r.tx_index),
        log_index: Some(index),
        removed: false,
    }
}

impl EmbeddedChain {
    /// The number a block tag or number names: every head tag (and `pending`, which has no
    /// block of its own here) is the head; `earliest` is genesis.
    pub fn resolve_number(&self, tag: BlockNumberOrTag) -> u64 {
        match tag {
            BlockNumberOrTag::Earliest => 0,
            BlockNumberOrTag::Number(n) => n,
            _ => self.head().number,
        }
    }

    fn rpc_mined_tx(&self, stored: StoredTx, hash: B256) -> Result<RpcTransaction, ChainError> {
        let envelope = TxEnvelope::decode_2718(&mut stored.raw.as_ref())
            .map_err(|e| EmbeddedError::Corrupt(format!("stored transaction {hash}: {e}")))?;
        let price = self.stored_receipt(hash)?.map(|r| r.effective_gas_price);
        let timestamp = self.stored_receipt(hash)?.map(|r| r.block_timestamp);
        Ok(RpcTransaction {
            inner: Recovered::new_unchecked(envelope, stored.sender),
            block_hash: Some(stored.block_hash),
            block_number: Some(stored.block_number),
            transaction_index: Some(stored.index),
            effective_gas_price: price,
            block_timestamp: timestamp,
        })
    }

    /// A transaction, mined or pending (`eth_getTransactionByHash`).
    pub fn rpc_transaction(&self, hash: B256) -> Result<Option<RpcTransaction>, ChainError> {
        if let Some(tx) = self.pooled(&hash) {
            return Ok(Some(RpcTransaction {
                inner: Recovered::new_unchecked(tx.envelope, tx.sender),
                block_hash: None,
                block_number: None,
                transaction_index: None,
                effective_gas_price: None,
                block_timestamp: None,
            }));
        }
        match self.stored_tx(hash)? {
            Some(stored) => self.rpc_mined_tx(stored, hash).map(Some),
            None => Ok(None),
        }
    }

    /// A mined transaction's receipt (`eth_getTransactionReceipt`).
    pub fn rpc_receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, ChainError> {
        let Some(r) = self.stored_receipt(hash)? else {
            return Ok(None);
        };
        let logs: Vec<RpcLog> = r
            .logs
            .iter()
            .enumerate()
            .map(|(i, l)| rpc_log(l, &r, r.first_log_index + i as u64))
            .collect();
        let bloom = logs_bloom(r.logs.iter());
        Ok(Some(TransactionReceipt {
            inner: receipt_envelope(r.tx_type, r.success, r.cumulative_gas_used, logs, bloom),
            transaction_hash: r.tx_hash,
            transaction_index: Some(r.tx_index),
            block_hash: Some(r.block_hash),
            block_number: Some(r.block_number),
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            blob_gas_used: None,
            blob_gas_price: None,
            from: r.from,
            to: r.to,
            contract_address: r.contract_address,
        }))
    }

    /// A block with its transactions' hashes, or the transactions themselves when `full`
    /// (`eth_getBlockByNumber`, `eth_getBlockByHash`).
    pub fn rpc_block(&self, id: BlockId, full: bool) -> Result<Option<Block>, ChainError> {
        let Some(block) = self.stored_block(id)? else {
            return Ok(None);
        };
        Ok(Some(self.to_rpc_block(block, full)?))
    }

    fn to_rpc_block(&self, block: StoredBlock, full: bool) -> Result<Block, ChainError> {
        let transactions = if full {
            let mut txs = Vec::with_capacity(block.transactions.len());
            for hash in &block.transactions {
                let stored = self.stored_tx(*hash)?.ok_or_else(|| {
                    EmbeddedError::Corrupt(format!("block {} lists unknown tx {hash}", block.hash))
                })?;
                txs.push(self.rpc_mined_tx(stored, *hash)?);
            }
            BlockTransactions::Full(txs)
        } else {
            BlockTransactions::Hashes(block.transactions.clone())
        };
        // The RLP size of header and body, as clients show it.
        let size = block.header.length()
            + block
                .transactions
                .iter()
                .filter_map(|h| self.stored_tx(*h).ok().flatten())
                .map(|t| t.raw.len())
                .sum::<usize>();
        Ok(Block {
            header: RpcHeader {
                hash: block.hash,
                inner: block.header,
                total_difficulty: Some(U256::ZERO),
                size: Some(U256::from(size)),
            },
            uncles: Vec::new(),
            transactions,
            withdrawals: None,
        })
    }

    /// The logs `filter` selects (`eth_getLogs`); ranges beyond the head stop at the head,
    /// and a block hash that names no block is an error. A range over more than
    /// [`crate::EmbeddedConfig::max_logs_block_range`] blocks, or more than
    /// [`crate::EmbeddedConfig::max_logs_results`] matching logs, is refused (clients split
    /// the range), so one request reads and holds a bounded amount.
    pub fn rpc_logs(&self, filter: &Filter) -> Result<Vec<RpcLog>, ChainError> {
        let (from, to) = match filter.block_option {
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => (
                self.resolve_number(from_block.unwrap_or_default()),
                self.resolve_number(to_block.unwrap_or_default()),
            ),
            FilterBlockOption::AtBlockHash(hash) => {
                let n = self
                    .block_number(BlockId::Hash(hash))?
                    .ok_or_else(|| ChainError::NotFound(format!("block {hash}")))?;
                (n, n)
            }
        };
        let config = self.config();
        // Counted up to the head: a range past it reads nothing there.
        let to = to.min(self.head().number);
        if to >= from && to - from >= config.max_logs_block_range {
            return Err(EmbeddedError::LogsRangeTooLarge(config.max_logs_block_range).into());
        }
        let mut out = Vec::new();
        for (number, block) in self.block_logs(from, to)? {
            for l in block.logs {
                if filter.matches(&l.log) {
                    if out.len() == config.max_logs_results {
                        return Err(EmbeddedError::TooManyLogs(config.max_logs_results).into());
                    }
                    out.push(RpcLog {
                        inner: l.log,
                        block_hash: Some(block.block_hash),
                        block_number: Some(number),
                        block_timestamp: Some(block.timestamp),
                        transaction_hash: Some(l.tx_hash),
                        transaction_index: Some(l.tx_index),
                        log_index: Some(l.log_index),
                        removed: false,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Base fees and gas used ratios of the `count` blocks up to `newest`
    /// (`eth_feeHistory`; at most [`MAX_FEE_HISTORY`] blocks), with the next block's base
    /// fee last. Rewards are zeros: tips only order transactions here. As geth, the reward
    /// percentiles must be at most [`crate::EmbeddedConfig::max_fee_history_percentiles`],
    /// within 0 to 100 and strictly increasing, else an error: the rewards' size is their number
    /// times the block count.
    pub fn fee_history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<&[f64]>,
    ) -> Result<FeeHistory, ChainError> {
        if let Some(p) = percentiles {
            check_percentiles(p, self.config().max_fee_history_percentiles)?;
        }
        let head = self.head().number;
        let newest = self.resolve_number(newest).min(head);
        let count = count.min(MAX_FEE_HISTORY).min(newest + 1);
        if count == 0 {
            return Ok(FeeHistory::default());
        }
        let oldest = newest + 1 - count;
        let mut base_fee_per_gas = Vec::with_capacity(count as usize + 1);
        let mut gas_used_ratio = Vec::with_capacity(count as usize);
        let mut last = None;
        for number in oldest..=newest {
            let block = self
                .stored_block(BlockId::Number(number))?
                .ok_or_else(|| EmbeddedError::Corrupt(format!("block {number} missing")))?;
            let h = &block.header;
            base_fee_per_gas.push(u128::from(h.base_fee_per_gas.unwrap_or_default()));
            gas_used_ratio.push(h.gas_used as f64 / h.gas_limit.max(1) as f64);
            last = Some(block.header);
        }
        let last = last.expect("count >= 1");
        base_fee_per_gas.push(u128::from(crate::fees::next_base_fee(
            last.base_fee_per_gas.unwrap_or_default(),
            last.gas_used,
            last.gas_limit,
        )));
        Ok(FeeHistory {
            base_fee_per_blob_gas: vec![0; count as usize + 1],
            blob_gas_used_ratio: vec![0.0; count as usize],
            base_fee_per_gas,
            gas_used_ratio,
            oldest_block: oldest,
            reward: percentiles.map(|p| vec![vec![0; p.len()]; count as usize]),
        })
    }
}

/// Refuses reward percentiles geth refuses: more than `max`, outside 0 to 100 (or not a
/// number), or not strictly increasing.
fn check_percentiles(percentiles: &[f64], max: usize) -> Result<(), EmbeddedError> {
    if percentiles.len() > max {
        return Err(EmbeddedError::InvalidParams(format!(
            "{} reward percentiles, at most {max}",
            percentiles.len()
        )));
    }
    for (i, p) in percentiles.iter().enumerate() {
        if !(0.0..=100.0).contains(p) {
            return Err(EmbeddedError::InvalidParams(format!(
                "invalid reward percentile {p}: must be within 0 and 100"
            )));
        }
        // Strictly, as geth: a repeated percentile asks for nothing new.
        if i > 0 && *p <= percentiles[i - 1] {
            return Err(EmbeddedError::InvalidParams(format!(
                "invalid reward percentile {p}: not above the previous {}",
                percentiles[i - 1]
            )));
        }
    }
    Ok(())
}
