//! The transaction pool's rules, as plain logic: admission, replacement, and the order in
//! which a block takes transactions.

use std::collections::{BTreeMap, BinaryHeap, HashMap};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, Bytes, B256, U256};
use manyfold_chain::ChainError;

use crate::error::EmbeddedError;

/// The fee bump, in percent, a replacement must offer on both fee fields.
pub(crate) const REPLACEMENT_BUMP_PERCENT: u128 = 10;

/// A transaction waiting in the pool.
#[derive(Debug, Clone)]
pub(crate) struct PoolTx {
    pub(crate) hash: B256,
    pub(crate) envelope: TxEnvelope,
    pub(crate) raw: Bytes,
    pub(crate) sender: Address,
}

impl PoolTx {
    pub(crate) fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }
    pub(crate) fn gas_limit(&self) -> u64 {
        self.envelope.gas_limit()
    }
    pub(crate) fn max_fee(&self) -> u128 {
        self.envelope.max_fee_per_gas()
    }
    /// The tip it offers: `maxPriorityFeePerGas`, or the whole gas price of a legacy one.
    pub(crate) fn max_tip(&self) -> u128 {
        self.envelope.priority_fee_or_price()
    }
    /// The most it can cost: gas limit × max fee + value.
    pub(crate) fn max_cost(&self) -> U256 {
        U256::from(self.gas_limit()) * U256::from(self.max_fee()) + self.envelope.value()
    }
    /// What it tips per gas at `base_fee`; `None` when it cannot pay the base fee.
    pub(crate) fn tip_at(&self, base_fee: u64) -> Option<u128> {
        self.envelope.effective_tip_per_gas(base_fee)
    }
}

/// What the sender's account holds, as the pool checks it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SenderState {
    pub(crate) nonce: u64,
    pub(crate) balance: U256,
}

/// Pending transactions, by hash and by sender and nonce.
#[derive(Debug)]
pub(crate) struct Pool {
    txs: HashMap<B256, PoolTx>,
    by_sender: HashMap<Address, BTreeMap<u64, B256>>,
    capacity: usize,
}

impl Pool {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            txs: HashMap::new(),
            by_sender: HashMap::new(),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.txs.len()
    }

    pub(crate) fn get(&self, hash: &B256) -> Option<&PoolTx> {
        self.txs.get(hash)
    }

    pub(crate) fn contains(&self, hash: &B256) -> bool {
        self.txs.contains_key(hash)
    }

    /// Admits `tx`, checked against its sender's account, the next block's base fee and
    /// the block gas limit. Returns the hash of the transaction it replaced, if any.
    pub(crate) fn insert(
        &mut self,
        tx: PoolTx,
        sender: SenderState,
        next_base_fee: u64,
        block_gas_limit: u64,
    ) -> Result<Option<B256>, ChainError> {
        if self.txs.contains_key(&tx.hash) {
            return Err(ChainError::AlreadyKnown);
        }
        if tx.gas_limit() > block_gas_limit {
            return Err(EmbeddedError::GasLimitTooHigh {
                gas: tx.gas_limit(),
                limit: block_gas_limit,
            }
            .into());
        }
        if tx.gas_limit() < 21_000 {
            return Err(EmbeddedError::IntrinsicGasTooLow(tx.gas_limit()).into());
        }
        if tx.nonce() < sender.nonce {
            return Err(ChainError::NonceTooLow(format!(
                "nonce too low: next nonce {}, tx nonce {}",
                sender.nonce,
                tx.nonce()
            )));
        }
        if tx.max_fee() < u128::from(next_base_fee) {
            return Err(ChainError::Underpriced(format!(
                "max fee per gas less than block base fee: maxFeePerGas {}, baseFee {next_base_fee}",
                tx.max_fee()
            )));
        }
        if tx.max_cost() > sender.balance {
            return Err(ChainError::InsufficientFunds(format!(
                "insufficient funds for gas * price + value: have {} want {}",
                sender.balance,
                tx.max_cost()
            )));
        }
        let replaced = self
            .by_sender
            .get(&tx.sender)
            .and_then(|nonces| nonces.get(&tx.nonce()))
            .copied();
        if let Some(old_hash) = replaced {
            let old = &self.txs[&old_hash];
            let bumped = |new: u128, old: u128| {
                new.saturating_mul(100) >= old.saturating_mul(100 + REPLACEMENT_BUMP_PERCENT)
            };
            if !bumped(tx.max_fee(), old.max_fee()) || !bumped(tx.max_tip(), old.max_tip()) {
                return Err(ChainError::Underpriced(
                    "replacement transaction underpriced".into(),
                ));
            }
            self.remove(&old_hash);
        } else if self.txs.len() >= self.capacity {
            return Err(EmbeddedError::PoolFull(self.capacity).into());
        }
        self.by_sender
            .entry(tx.sender)
            .or_default()
            .insert(tx.nonce(), tx.hash);
        self.txs.insert(tx.hash, tx);
        Ok(replaced)
    }

    pub(crate) fn remove(&mut self, hash: &B256) -> Option<PoolTx> {
        let tx = self.txs.remove(hash)?;
        if let Some(nonces) = self.by_sender.get_mut(&tx.sender) {
            nonces.remove(&tx.nonce());
            if nonces.is_empty() {
                self.by_sender.remove(&tx.sender);
            }
        }
        Some(tx)
    }

    /// Removes `sender`'s transactions whose nonce is below `nonce` (another transaction
    /// used it), returning their hashes.
    pub(crate) fn remove_stale(&mut self, sender: Address, nonce: u64) -> Vec<B256> {
        let stale: Vec<B256> = self
            .by_sender
            .get(&sender)
            .map(|nonces| nonces.range(..nonce).map(|(_, h)| *h).collect())
            .unwrap_or_default();
        for hash in &stale {
            self.remove(hash);
        }
        stale
    }

    /// The nonce after `sender`'s run of pooled transactions that starts at
    /// `account_nonce`: what the sender's next transaction should use.
    pub(crate) fn pending_nonce(&self, sender: Address, account_nonce: u64) -> u64 {
        let mut next = account_nonce;
        if let Some(nonces) = self.by_sender.get(&sender) {
            for nonce in nonces.range(account_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// The transactions a block at `base_fee` should try, in order: each sender's run of
    /// consecutive nonces from its account nonce, interleaved by best tip first. A sender
    /// whose next transaction cannot pay the base fee waits.
    pub(crate) fn select(&self, nonce_of: impl Fn(Address) -> u64, base_fee: u64) -> Vec<B256> {
        // Max-heap of each sender's next transaction by tip (ties broken by hash).
        let mut heap = BinaryHeap::new();
        let next_of = |sender: Address, nonce: u64| -> Option<(u128, B256, Address, u64)> {
            let hash = *self.by_sender.get(&sender)?.get(&nonce)?;
            let tip = self.txs[&hash].tip_at(base_fee)?;
            Some((tip, hash, sender, nonce))
        };
        for &sender in self.by_sender.keys() {
            if let Some(entry) = next_of(sender, nonce_of(sender)) {
                heap.push(entry);
            }
        }
        let mut order = Vec::with_capacity(self.txs.len());
        while let Some((_, hash, sender, nonce)) = heap.pop() {
            order.push(hash);
            if let Some(entry) = next_of(sender, nonce + 1) {
                heap.push(entry);
            }
        }
        order
    }

    /// Every pooled transaction.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PoolTx> {
        self.txs.values()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dev::DevAccount;
    use alloy_consensus::TxEip1559;
    use alloy_eips::eip2718::Encodable2718;
    use alloy_primitives::TxKind;

    pub(crate) fn account(i: u8) -> DevAccount {
        DevAccount::from_secret(B256::repeat_byte(i)).unwrap()
    }

    fn tx(from: &DevAccount, nonce: u64, max_fee: u128, tip: u128, gas: u64) -> PoolTx {
        let envelope: TxEnvelope = from
            .sign(TxEip1559 {
                chain_id: 1,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                to: TxKind::Call(Address::repeat_byte(9)),
                value: U256::from(1u64),
                ..Default::default()
            })
            .into();
        PoolTx {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
            envelope,
            sender: from.address,
        }
    }

    fn rich(nonce: u64) -> SenderState {
        SenderState {
            nonce,
            balance: U256::from(10u64).pow(U256::from(20u64)),
        }
    }

    const GAS_LIMIT: u64 = 30_000_000;

    #[test]
    fn admission_rules() {
        let a = account(1);
        let mut pool = Pool::new(10);
        let t = tx(&a, 5, 100, 2, 21_000);
        pool.insert(t.clone(), rich(5), 50, GAS_LIMIT).unwrap();
        assert!(matches!(
            pool.insert(t, rich(5), 50, GAS_LIMIT),
            Err(ChainError::AlreadyKnown)
        ));
        let err = pool.insert(tx(&a, 4, 100, 2, 21_000), rich(5), 50, GAS_LIMIT);
        assert!(matches!(err, Err(ChainError::NonceTooLow(_))), "{err:?}");
        let err = pool.insert(tx(&a, 6, 49, 2, 21_000), rich(5), 50, GAS_LIMIT);
        assert!(matches!(err, Err(ChainError::Underpriced(_))), "{err:?}");
        let poor = SenderState {
            nonce: 5,
            balance: U256::from(21_000u64 * 100),
        };
        // gas * maxFee + value is one wei more than the balance.
        let err = pool.insert(tx(&a, 6, 100, 2, 21_000), poor, 50, GAS_LIMIT);
        assert!(
            matches!(err, Err(ChainError::InsufficientFunds(_))),
            "{err:?}"
        );
        let err = pool.insert(tx(&a, 6, 100, 2, GAS_LIMIT + 1), rich(5), 50, GAS_LIMIT);
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("exceeds block gas limit"));
        let err = pool.insert(tx(&a, 6, 100, 2, 20_999), rich(5), 50, GAS_LIMIT);
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("intrinsic gas too low"));
        assert_eq!(pool.len(), 1, "nothing refused was kept");
    }

    #[test]
    fn replacement_needs_ten_percent_on_both_fees() {
        let a = account(1);
        let mut pool = Pool::new(10);
        let first = tx(&a, 0, 100, 10, 21_000);
        pool.insert(first.clone(), rich(0), 50, GAS_LIMIT).unwrap();
        for (fee, tip) in [(109, 11), (110, 10), (200, 10), (109, 20)] {
            let err = pool.insert(tx(&a, 0, fee, tip, 21_000), rich(0), 50, GAS_LIMIT);
            assert!(
                matches!(&err, Err(ChainError::Underpriced(m)) if m == "replacement transaction underpriced"),
                "{fee}/{tip}: {err:?}"
            );
        }
        let second = tx(&a, 0, 110, 11, 21_000);
        let replaced = pool.insert(second.clone(), rich(0), 50, GAS_LIMIT).unwrap();
        assert_eq!(replaced, Some(first.hash));
        assert!(!pool.contains(&first.hash) && pool.contains(&second.hash));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn the_pool_is_bounded_but_replacements_fit() {
        let a = account(1);
        let mut pool = Pool::new(2);
        pool.insert(tx(&a, 0, 100, 1, 21_000), rich(0), 1, GAS_LIMIT)
            .unwrap();
        pool.insert(tx(&a, 1, 100, 1, 21_000), rich(0), 1, GAS_LIMIT)
            .unwrap();
        let err = pool.insert(tx(&a, 2, 100, 1, 21_000), rich(0), 1, GAS_LIMIT);
        assert!(err.unwrap_err().to_string().contains("txpool is full"));
        pool.insert(tx(&a, 1, 200, 2, 21_000), rich(0), 1, GAS_LIMIT)
            .unwrap();
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn blocks_take_nonce_order_per_sender_and_best_tip_first() {
        let (a, b) = (account(1), account(2));
        let mut pool = Pool::new(10);
        // a: nonces 0 (tip 1), 1 (tip 50), 3 (gap: waits). b: nonce 7 (tip 5), 8 (tip 0
        // at base fee 100 since max fee 100).
        let a0 = tx(&a, 0, 1000, 1, 21_000);
        let a1 = tx(&a, 1, 1000, 50, 21_000);
        let a3 = tx(&a, 3, 1000, 50, 21_000);
        let b7 = tx(&b, 7, 1000, 5, 21_000);
        let b8 = tx(&b, 8, 100, 5, 21_000);
        for t in [&a1, &a3, &b8, &a0, &b7] {
            let nonce = if t.sender == a.address { 0 } else { 7 };
            pool.insert(t.clone(), rich(nonce), 100, GAS_LIMIT).unwrap();
        }
        let nonce_of = |s: Address| if s == a.address { 0 } else { 7 };
        let order = pool.select(nonce_of, 100);
        assert_eq!(order, vec![b7.hash, a0.hash, a1.hash, b8.hash]);
        // At a higher base fee, b8 (max fee 100) waits.
        let order = pool.select(nonce_of, 101);
        assert_eq!(order, vec![b7.hash, a0.hash, a1.hash]);
        assert_eq!(pool.pending_nonce(a.address, 0), 2);
        assert_eq!(pool.pending_nonce(b.address, 7), 9);
        assert_eq!(pool.pending_nonce(account(3).address, 4), 4);

        assert_eq!(pool.remove_stale(a.address, 2), vec![a0.hash, a1.hash]);
        assert_eq!(pool.len(), 3);
    }
}
