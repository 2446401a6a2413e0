//! The transaction pool's rules, as plain logic: admission, replacement, and the order in
//! which a block takes transactions.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Instant;

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, Bytes, B256, U256};
use manyfold_chain::ChainError;
use revm::primitives::eip3860::MAX_INITCODE_SIZE;

use crate::error::EmbeddedError;
use crate::evm::intrinsic_gas;

/// The fee bump, in percent, a replacement must offer on both fee fields.
pub(crate) const REPLACEMENT_BUMP_PERCENT: u128 = 10;

/// A transaction waiting in the pool.
#[derive(Debug, Clone)]
pub(crate) struct PoolTx {
    pub(crate) hash: B256,
    pub(crate) envelope: TxEnvelope,
    pub(crate) raw: Bytes,
    pub(crate) sender: Address,
    /// When it entered the pool (this process's clock: a restart starts it again), for
    /// [`crate::EmbeddedConfig::pool_lifetime`].
    pub(crate) admitted: Instant,
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
    /// The most it can cost: gas limit × max fee + value; `None` when that overflows 256
    /// bits (no account can hold it).
    pub(crate) fn max_cost(&self) -> Option<U256> {
        U256::from(self.gas_limit())
            .checked_mul(U256::from(self.max_fee()))?
            .checked_add(self.envelope.value())
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

/// The pool's bounds (from [`crate::EmbeddedConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolLimits {
    /// The most transactions in all.
    pub(crate) capacity: usize,
    /// The most from one sender.
    pub(crate) per_sender: usize,
    /// A nonce must be below the account's nonce plus this.
    pub(crate) max_nonce_ahead: u64,
}

/// What admitting a transaction takes out of the pool: decided by [`Pool::check`] before
/// anything changes, so that the caller can persist the removals with the newcomer in one
/// commit, then [`Pool::apply`] them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Admission {
    /// The same-nonce transaction it replaces.
    pub(crate) replaced: Option<B256>,
    /// The transaction it evicts from a full pool.
    pub(crate) evicted: Option<B256>,
}

impl Admission {
    /// Every transaction it removes.
    pub(crate) fn removed(&self) -> impl Iterator<Item = B256> {
        self.replaced.into_iter().chain(self.evicted)
    }
}

/// Pending transactions, by hash and by sender and nonce.
#[derive(Debug)]
pub(crate) struct Pool {
    txs: HashMap<B256, PoolTx>,
    by_sender: HashMap<Address, BTreeMap<u64, B256>>,
    limits: PoolLimits,
}

impl Pool {
    pub(crate) fn new(limits: PoolLimits) -> Self {
        Self {
            txs: HashMap::new(),
            by_sender: HashMap::new(),
            limits,
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

    /// Checks `tx` against its sender's account, the next block's base fee, the block gas
    /// limit and the pool's bounds, and decides what admitting it removes; changes nothing.
    /// `nonce_of` gives any account's nonce, to tell which pooled transactions a block
    /// could take (only others may be evicted).
    pub(crate) fn check(
        &self,
        tx: &PoolTx,
        sender: SenderState,
        next_base_fee: u64,
        block_gas_limit: u64,
        nonce_of: impl Fn(Address) -> u64,
    ) -> Result<Admission, ChainError> {
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
        // EIP-3860, checked here too so that the pool never holds what the EVM refuses.
        if tx.envelope.kind().is_create() && tx.envelope.input().len() > MAX_INITCODE_SIZE {
            return Err(EmbeddedError::InitcodeTooLarge {
                size: tx.envelope.input().len(),
                max: MAX_INITCODE_SIZE,
            }
            .into());
        }
        let needed = intrinsic_gas(&tx.envelope);
        if tx.gas_limit() < needed {
            return Err(EmbeddedError::IntrinsicGasTooLow {
                gas: tx.gas_limit(),
                needed,
            }
            .into());
        }
        if let Some(tip) = tx.envelope.max_priority_fee_per_gas() {
            if tip > tx.max_fee() {
                return Err(EmbeddedError::TipAboveFeeCap {
                    tip,
                    max_fee: tx.max_fee(),
                }
                .into());
            }
        }
        if tx.nonce() < sender.nonce {
            return Err(ChainError::NonceTooLow(format!(
                "nonce too low: next nonce {}, tx nonce {}",
                sender.nonce,
                tx.nonce()
            )));
        }
        if tx.nonce() - sender.nonce >= self.limits.max_nonce_ahead {
            return Err(EmbeddedError::NonceTooHigh {
                nonce: tx.nonce(),
                next: sender.nonce,
                max_ahead: self.limits.max_nonce_ahead,
            }
            .into());
        }
        if tx.max_fee() < u128::from(next_base_fee) {
            return Err(ChainError::Underpriced(format!(
                "max fee per gas less than block base fee: maxFeePerGas {}, baseFee {next_base_fee}",
                tx.max_fee()
            )));
        }
        // Checked: a value near 2^256 would otherwise wrap the cost to almost nothing.
        match tx.max_cost() {
            Some(cost) if cost <= sender.balance => {}
            Some(cost) => {
                return Err(ChainError::InsufficientFunds(format!(
                    "insufficient funds for gas * price + value: have {} want {cost}",
                    sender.balance
                )))
            }
            None => {
                return Err(ChainError::InsufficientFunds(format!(
                    "insufficient funds for gas * price + value: have {} want more than 2^256",
                    sender.balance
                )))
            }
        }
        let own = self.by_sender.get(&tx.sender);
        if let Some(old_hash) = own.and_then(|nonces| nonces.get(&tx.nonce())).copied() {
            let old = &self.txs[&old_hash];
            let bumped = |new: u128, old: u128| {
                new.saturating_mul(100) >= old.saturating_mul(100 + REPLACEMENT_BUMP_PERCENT)
            };
            if !bumped(tx.max_fee(), old.max_fee()) || !bumped(tx.max_tip(), old.max_tip()) {
                return Err(ChainError::Underpriced(
                    "replacement transaction underpriced".into(),
                ));
            }
            return Ok(Admission {
                replaced: Some(old_hash),
                evicted: None,
            });
        }
        if own.map_or(0, BTreeMap::len) >= self.limits.per_sender {
            return Err(EmbeddedError::SenderPoolFull {
                sender: tx.sender,
                max: self.limits.per_sender,
            }
            .into());
        }
        if self.txs.len() < self.limits.capacity {
            return Ok(Admission::default());
        }
        // Full: the newcomer may take the place of the worst-priced transaction no block
        // could take now, if it is executable itself or pays more. Executable ones are
        // never evicted, so spam parked behind a nonce gap cannot keep others out.
        let executable = tx.nonce() == self.pending_nonce(tx.sender, sender.nonce);
        let victim = self
            .stuck(nonce_of, next_base_fee)
            .filter(|t| t.sender != tx.sender || t.nonce() > tx.nonce())
            .min_by_key(|t| (t.max_fee(), std::cmp::Reverse(t.nonce()), t.hash));
        match victim {
            Some(v) if executable || tx.max_fee() > v.max_fee() => Ok(Admission {
                replaced: None,
                evicted: Some(v.hash),
            }),
            _ => Err(EmbeddedError::PoolFull(self.limits.capacity).into()),
        }
    }

    /// Puts `tx` in the pool and removes what `admission` (from [`Pool::check`]) says.
    pub(crate) fn apply(&mut self, tx: PoolTx, admission: &Admission) {
        for hash in admission.removed() {
            self.remove(&hash);
        }
        self.by_sender
            .entry(tx.sender)
            .or_default()
            .insert(tx.nonce(), tx.hash);
        self.txs.insert(tx.hash, tx);
    }

    /// [`Pool::check`], then [`Pool::apply`].
    #[cfg(test)]
    pub(crate) fn insert(
        &mut self,
        tx: PoolTx,
        sender: SenderState,
        next_base_fee: u64,
        block_gas_limit: u64,
        nonce_of: impl Fn(Address) -> u64,
    ) -> Result<Admission, ChainError> {
        let admission = self.check(&tx, sender, next_base_fee, block_gas_limit, nonce_of)?;
        self.apply(tx, &admission);
        Ok(admission)
    }

    /// The transactions a block at `base_fee` could not take, whatever its room: those
    /// behind a nonce gap, or at or behind one whose max fee is below the base fee.
    pub(crate) fn stuck(
        &self,
        nonce_of: impl Fn(Address) -> u64,
        base_fee: u64,
    ) -> impl Iterator<Item = &PoolTx> {
        self.by_sender.iter().flat_map(move |(sender, nonces)| {
            let mut next = nonce_of(*sender);
            nonces.values().filter_map(move |hash| {
                let tx = &self.txs[hash];
                if tx.nonce() == next && tx.tip_at(base_fee).is_some() {
                    next += 1;
                    None
                } else {
                    // A gap (or an unpayable one) stops the run: every later one is stuck.
                    next = u64::MAX;
                    Some(tx)
                }
            })
        })
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
        signed(
            TxEip1559 {
                chain_id: 1,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                to: TxKind::Call(Address::repeat_byte(9)),
                value: U256::from(1u64),
                ..Default::default()
            },
            from,
        )
    }

    fn signed(tx: TxEip1559, from: &DevAccount) -> PoolTx {
        let envelope: TxEnvelope = from.sign(tx).into();
        PoolTx {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
            envelope,
            sender: from.address,
            admitted: Instant::now(),
        }
    }

    fn limits(capacity: usize) -> PoolLimits {
        PoolLimits {
            capacity,
            per_sender: 16,
            max_nonce_ahead: 16,
        }
    }

    /// Every account at nonce 0.
    fn fresh(_: Address) -> u64 {
        0
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
        let mut pool = Pool::new(limits(10));
        let t = tx(&a, 5, 100, 2, 21_000);
        pool.insert(t.clone(), rich(5), 50, GAS_LIMIT, fresh)
            .unwrap();
        assert!(matches!(
            pool.insert(t, rich(5), 50, GAS_LIMIT, fresh),
            Err(ChainError::AlreadyKnown)
        ));
        let err = pool.insert(tx(&a, 4, 100, 2, 21_000), rich(5), 50, GAS_LIMIT, fresh);
        assert!(matches!(err, Err(ChainError::NonceTooLow(_))), "{err:?}");
        let err = pool.insert(tx(&a, 6, 49, 2, 21_000), rich(5), 50, GAS_LIMIT, fresh);
        assert!(matches!(err, Err(ChainError::Underpriced(_))), "{err:?}");
        let poor = SenderState {
            nonce: 5,
            balance: U256::from(21_000u64 * 100),
        };
        // gas * maxFee + value is one wei more than the balance.
        let err = pool.insert(tx(&a, 6, 100, 2, 21_000), poor, 50, GAS_LIMIT, fresh);
        assert!(
            matches!(err, Err(ChainError::InsufficientFunds(_))),
            "{err:?}"
        );
        let err = pool.insert(
            tx(&a, 6, 100, 2, GAS_LIMIT + 1),
            rich(5),
            50,
            GAS_LIMIT,
            fresh,
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("exceeds block gas limit"));
        let err = pool.insert(tx(&a, 6, 100, 2, 20_999), rich(5), 50, GAS_LIMIT, fresh);
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("intrinsic gas too low: gas 20999, needs 21000"));
        assert_eq!(pool.len(), 1, "nothing refused was kept");
    }

    #[test]
    fn replacement_needs_ten_percent_on_both_fees() {
        let a = account(1);
        let mut pool = Pool::new(limits(10));
        let first = tx(&a, 0, 100, 10, 21_000);
        pool.insert(first.clone(), rich(0), 50, GAS_LIMIT, fresh)
            .unwrap();
        for (fee, tip) in [(109, 11), (110, 10), (200, 10), (109, 20)] {
            let err = pool.insert(tx(&a, 0, fee, tip, 21_000), rich(0), 50, GAS_LIMIT, fresh);
            assert!(
                matches!(&err, Err(ChainError::Underpriced(m)) if m == "replacement transaction underpriced"),
                "{fee}/{tip}: {err:?}"
            );
        }
        let second = tx(&a, 0, 110, 11, 21_000);
        let admission = pool
            .insert(second.clone(), rich(0), 50, GAS_LIMIT, fresh)
            .unwrap();
        assert_eq!(admission.replaced, Some(first.hash));
        assert!(!pool.contains(&first.hash) && pool.contains(&second.hash));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn the_pool_is_bounded_but_replacements_fit() {
        let a = account(1);
        let mut pool = Pool::new(limits(2));
        pool.insert(tx(&a, 0, 100, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh)
            .unwrap();
        pool.insert(tx(&a, 1, 100, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh)
            .unwrap();
        let err = pool.insert(tx(&a, 2, 100, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh);
        assert!(err.unwrap_err().to_string().contains("txpool is full"));
        pool.insert(tx(&a, 1, 200, 2, 21_000), rich(0), 1, GAS_LIMIT, fresh)
            .unwrap();
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn blocks_take_nonce_order_per_sender_and_best_tip_first() {
        let (a, b) = (account(1), account(2));
        let mut pool = Pool::new(limits(10));
        // a: nonces 0 (tip 1), 1 (tip 50), 3 (gap: waits). b: nonce 7 (tip 5), 8 (tip 0
        // at base fee 100 since max fee 100).
        let a0 = tx(&a, 0, 1000, 1, 21_000);
        let a1 = tx(&a, 1, 1000, 50, 21_000);
        let a3 = tx(&a, 3, 1000, 50, 21_000);
        let b7 = tx(&b, 7, 1000, 5, 21_000);
        let b8 = tx(&b, 8, 100, 5, 21_000);
        for t in [&a1, &a3, &b8, &a0, &b7] {
            let nonce = if t.sender == a.address { 0 } else { 7 };
            pool.insert(t.clone(), rich(nonce), 100, GAS_LIMIT, fresh)
                .unwrap();
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

    #[test]
    fn a_cost_that_overflows_is_insufficient_funds() {
        // gas × fee + value = 2^256: wrapping, it would cost 0 and a penniless account
        // would be admitted.
        let stranger = account(3);
        let t = signed(
            TxEip1559 {
                chain_id: 1,
                gas_limit: 21_000,
                max_fee_per_gas: 100,
                to: TxKind::Call(Address::repeat_byte(9)),
                value: U256::MAX - U256::from(2_099_999u64),
                ..Default::default()
            },
            &stranger,
        );
        let broke = SenderState {
            nonce: 0,
            balance: U256::ZERO,
        };
        let mut pool = Pool::new(limits(10));
        let err = pool.insert(t, broke, 1, GAS_LIMIT, fresh);
        assert!(
            matches!(&err, Err(ChainError::InsufficientFunds(m)) if m.contains("2^256")),
            "{err:?}"
        );
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn intrinsic_gas_initcode_and_tip_are_checked() {
        let a = account(1);
        let mut pool = Pool::new(limits(10));
        let base = TxEip1559 {
            chain_id: 1,
            gas_limit: 21_000,
            max_fee_per_gas: 100,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(9)),
            ..Default::default()
        };
        // 100 nonzero calldata bytes: 21,000 + 100 × 16, or EIP-7623's floor 21,000 +
        // 100 × 4 × 10, the higher.
        let calldata = TxEip1559 {
            input: vec![1u8; 100].into(),
            ..base.clone()
        };
        let err = pool.insert(signed(calldata.clone(), &a), rich(0), 1, GAS_LIMIT, fresh);
        assert!(
            err.as_ref()
                .unwrap_err()
                .to_string()
                .contains("intrinsic gas too low: gas 21000, needs 25000"),
            "{err:?}"
        );
        // A creation pays 32,000 more, and 2 per init code word.
        let create = TxEip1559 {
            to: TxKind::Create,
            gas_limit: 52_999,
            ..base.clone()
        };
        let err = pool.insert(signed(create, &a), rich(0), 1, GAS_LIMIT, fresh);
        assert!(
            err.as_ref()
                .unwrap_err()
                .to_string()
                .contains("intrinsic gas too low: gas 52999, needs 53000"),
            "{err:?}"
        );
        // EIP-3860: init code above 49,152 bytes.
        let huge = TxEip1559 {
            to: TxKind::Create,
            gas_limit: GAS_LIMIT,
            input: vec![0u8; MAX_INITCODE_SIZE + 1].into(),
            ..base.clone()
        };
        let err = pool.insert(signed(huge, &a), rich(0), 1, GAS_LIMIT, fresh);
        assert!(
            err.as_ref()
                .unwrap_err()
                .to_string()
                .contains("max initcode size exceeded: code size 49153, limit 49152"),
            "{err:?}"
        );
        // A tip above the fee cap.
        let tip = TxEip1559 {
            max_priority_fee_per_gas: 101,
            ..base.clone()
        };
        let err = pool.insert(signed(tip, &a), rich(0), 1, GAS_LIMIT, fresh);
        assert!(
            err.as_ref()
                .unwrap_err()
                .to_string()
                .contains("max priority fee per gas higher than max fee per gas"),
            "{err:?}"
        );
        assert_eq!(pool.len(), 0, "nothing refused was kept");
        // Enough gas: admitted.
        let enough = TxEip1559 {
            gas_limit: 25_000,
            ..calldata
        };
        pool.insert(signed(enough, &a), rich(0), 1, GAS_LIMIT, fresh)
            .unwrap();
    }

    #[test]
    fn senders_are_capped_in_count_and_nonce_distance() {
        let a = account(1);
        let mut pool = Pool::new(PoolLimits {
            capacity: 100,
            per_sender: 3,
            max_nonce_ahead: 5,
        });
        // Nonces 0 to 4 are within reach of account nonce 0; 5 is not.
        let err = pool.insert(tx(&a, 5, 100, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh);
        assert!(
            err.as_ref()
                .unwrap_err()
                .to_string()
                .contains("nonce too high: next nonce 0, tx nonce 5"),
            "{err:?}"
        );
        for nonce in [0, 2, 4] {
            pool.insert(tx(&a, nonce, 100, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh)
                .unwrap();
        }
        let err = pool.insert(tx(&a, 1, 100, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh);
        assert!(
            err.as_ref()
                .unwrap_err()
                .to_string()
                .contains("already has 3 pending transactions"),
            "{err:?}"
        );
        // A replacement takes no new room; another sender is not affected.
        pool.insert(tx(&a, 2, 200, 2, 21_000), rich(0), 1, GAS_LIMIT, fresh)
            .unwrap();
        pool.insert(
            tx(&account(2), 0, 100, 1, 21_000),
            rich(0),
            1,
            GAS_LIMIT,
            fresh,
        )
        .unwrap();
        assert_eq!(pool.len(), 4);
    }

    #[test]
    fn a_full_pool_evicts_the_worst_stuck_transaction() {
        let (a, b, c) = (account(1), account(2), account(3));
        let mut pool = Pool::new(limits(3));
        // a: nonce 0 executable; nonces 2 and 3 behind a gap (fees 300 and 200).
        let a0 = tx(&a, 0, 100, 1, 21_000);
        let a2 = tx(&a, 2, 300, 1, 21_000);
        let a3 = tx(&a, 3, 200, 1, 21_000);
        for t in [&a0, &a2, &a3] {
            pool.insert(t.clone(), rich(0), 1, GAS_LIMIT, fresh)
                .unwrap();
        }
        assert_eq!(
            pool.stuck(fresh, 1).map(|t| t.hash).collect::<Vec<_>>(),
            vec![a2.hash, a3.hash]
        );
        // An executable newcomer evicts the cheapest stuck one.
        let b0 = tx(&b, 0, 100, 1, 21_000);
        let admission = pool
            .insert(b0.clone(), rich(0), 1, GAS_LIMIT, fresh)
            .unwrap();
        assert_eq!(admission.evicted, Some(a3.hash));
        assert!(!pool.contains(&a3.hash) && pool.contains(&b0.hash));
        // A stuck newcomer must pay more than the stuck one it would evict.
        let err = pool.insert(tx(&c, 5, 300, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh);
        assert!(err.unwrap_err().to_string().contains("txpool is full"));
        let c5 = tx(&c, 5, 301, 1, 21_000);
        let admission = pool.insert(c5, rich(0), 1, GAS_LIMIT, fresh).unwrap();
        assert_eq!(admission.evicted, Some(a2.hash));
        // Only executable ones and the newcomer's own are left: nothing to evict for a
        // stuck newcomer; one whose max fee is below the base fee counts as stuck.
        let err = pool.insert(tx(&c, 6, 1000, 1, 21_000), rich(0), 1, GAS_LIMIT, fresh);
        assert!(err.unwrap_err().to_string().contains("txpool is full"));
        assert_eq!(
            pool.stuck(fresh, 101).count(),
            3,
            "at base fee 101 a0 and b0 (max fee 100) are stuck too"
        );
        assert_eq!(pool.len(), 3);
    }
}
