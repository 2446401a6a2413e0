use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use alloy_primitives::B256;
use manyfold_state::L2State;
use manyfold_storage::{Storage, WriteBatch};
use manyfold_types::{
    AccountId, Amount, ChainId, L2Tx, Nonce, Op, PriorityOp, PriorityRef, PubKeyHash, TokenId,
};
use serde::{Deserialize, Serialize};

use crate::persist::{self, Entry};
use crate::tokens::TokenRegistry;
use crate::MempoolError;

/// Limits of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most L2 transactions held at once.
    pub max_txs: usize,
    /// Most queued transactions of one account.
    pub max_txs_per_account: usize,
    /// Most priority ops held at once.
    pub max_priority_ops: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            max_txs: 10_000,
            max_txs_per_account: 64,
            max_priority_ops: 10_000,
        }
    }
}

/// For each chain, the serial id of the next priority request a block will consume.
pub type PriorityCursor = BTreeMap<ChainId, u64>;

/// An op offered to the block builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Admission sequence number (the persisted row to delete once consumed).
    pub seq: u64,
    /// The op.
    pub op: Op,
    /// Hash of the L2 transaction, if it is one.
    pub tx_hash: Option<B256>,
    /// The priority request, if it is one.
    pub priority: Option<PriorityRef>,
}

#[derive(Debug, Clone)]
struct Pooled {
    seq: u64,
    hash: B256,
    tx: L2Tx,
}

/// The pool itself. See the crate docs.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    by_account: HashMap<AccountId, BTreeMap<Nonce, Pooled>>,
    hashes: HashSet<B256>,
    tx_count: usize,
    priority: VecDeque<(u64, PriorityOp)>,
    cursor: PriorityCursor,
    next_seq: u64,
    /// What each chain can pay out; `None` checks nothing (a node that settles nowhere).
    tokens: Option<TokenRegistry>,
}

impl Mempool {
    /// An empty pool whose priority lane expects each chain's requests from `cursor` on.
    pub fn new(config: MempoolConfig, cursor: PriorityCursor) -> Self {
        Self {
            config,
            by_account: HashMap::new(),
            hashes: HashSet::new(),
            tx_count: 0,
            priority: VecDeque::new(),
            cursor,
            next_seq: 0,
            tokens: None,
        }
    }

    /// From now on, refuses withdrawals the destination chain could not pay exactly.
    pub fn set_tokens(&mut self, tokens: TokenRegistry) {
        self.tokens = Some(tokens);
    }

    /// The pool as persisted in `storage`, revalidated against `state`: entries a block
    /// already consumed cannot be there (they are deleted with their block), and entries
    /// that became invalid are dropped.
    pub fn restore(
        config: MempoolConfig,
        cursor: PriorityCursor,
        storage: &dyn Storage,
        state: &L2State,
    ) -> Result<Self, MempoolError> {
        let mut pool = Self::new(config, cursor);
        let mut stale = WriteBatch::new();
        // Dropping stale rows is housekeeping: if it fails they are dropped again next time.
        for (seq, entry) in persist::load(storage)? {
            pool.next_seq = pool.next_seq.max(seq + 1);
            let restored = match entry {
                Entry::Tx(tx) => pool.insert_tx(seq, tx, state).map(|_| ()),
                Entry::Priority(op) => pool.insert_priority(seq, op),
            };
            if let Err(e) = restored {
                tracing::info!(seq, error = %e, "dropping a pooled entry that is no longer valid");
                persist::delete_persisted(&mut stale, seq);
            }
        }
        if !stale.is_empty() {
            if let Err(e) = storage.commit(stale) {
                tracing::warn!(error = %e, "could not delete stale mempool rows");
            }
        }
        Ok(pool)
    }

    /// Number of L2 transactions.
    pub fn tx_count(&self) -> usize {
        self.tx_count
    }

    /// Number of priority ops.
    pub fn priority_count(&self) -> usize {
        self.priority.len()
    }

    /// Whether the pool holds the transaction.
    pub fn contains(&self, hash: &B256) -> bool {
        self.hashes.contains(hash)
    }

    /// Validates `tx` and admits it, adding its durable row to `batch`. The caller commits
    /// `batch` before acknowledging, and calls [`Mempool::forget`] if that fails.
    pub fn admit(
        &mut self,
        tx: L2Tx,
        state: &L2State,
        batch: &mut WriteBatch,
    ) -> Result<B256, MempoolError> {
        if self.tx_count >= self.config.max_txs {
            return Err(MempoolError::Full {
                limit: self.config.max_txs,
            });
        }
        if let (L2Tx::Withdraw(w), Some(tokens)) = (&tx, &self.tokens) {
            tokens.check_withdraw(w.body.chain, w.body.token, w.body.amount)?;
        }
        let seq = self.next_seq;
        let hash = self.insert_tx(seq, tx, state)?;
        self.next_seq += 1;
        persist::put(batch, seq, &Entry::Tx(tx));
        Ok(hash)
    }

    /// Takes a transaction back out (its durable write failed).
    pub fn forget(&mut self, hash: &B256) {
        if !self.hashes.remove(hash) {
            return;
        }
        for queue in self.by_account.values_mut() {
            let before = queue.len();
            queue.retain(|_, p| p.hash != *hash);
            if queue.len() < before {
                self.tx_count -= 1;
            }
        }
        self.by_account.retain(|_, q| !q.is_empty());
    }

    fn insert_tx(&mut self, seq: u64, tx: L2Tx, state: &L2State) -> Result<B256, MempoolError> {
        let hash = tx.hash();
        if self.hashes.contains(&hash) {
            return Err(MempoolError::Duplicate(hash));
        }
        let account = tx.account();
        let info = state
            .account(account)
            .ok_or(manyfold_state::StateError::UnknownAccount(account))?;
        // Only transactions at or above the state's nonce are still waiting: a block may
        // have applied some whose removal from the pool has not been reported yet.
        let live: Vec<&Pooled> = self.live_queue(account, info.nonce);
        if live.len() >= self.config.max_txs_per_account {
            return Err(MempoolError::AccountLimit {
                account,
                limit: self.config.max_txs_per_account,
            });
        }
        let expected = Nonce(info.nonce.0.saturating_add(live.len() as u32));
        let got = tx.nonce();
        if got < expected {
            return Err(MempoolError::NonceTooLow {
                account,
                expected,
                got,
            });
        }
        if got > expected {
            return Err(MempoolError::NonceGap {
                account,
                expected,
                got,
            });
        }
        if live.is_empty() {
            state.check(&Op::from(tx))?;
        } else {
            Self::check_queued(&tx, &live, state)?;
        }
        self.hashes.insert(hash);
        self.tx_count += 1;
        self.by_account
            .entry(account)
            .or_default()
            .insert(got, Pooled { seq, hash, tx });
        Ok(hash)
    }

    /// Checks a transaction that queues behind others of its account: the key it must be
    /// signed with is the one the last queued ChangePubKey registers, if any, and its
    /// amount must be covered by the balance net of the queued debits.
    fn check_queued(tx: &L2Tx, queue: &[&Pooled], state: &L2State) -> Result<(), MempoolError> {
        use manyfold_state::StateError;
        let account = tx.account();
        let info = state
            .account(account)
            .ok_or(StateError::UnknownAccount(account))?;
        let key = queue
            .iter()
            .rev()
            .find_map(|p| match p.tx {
                L2Tx::ChangePubKey(c) => Some(c.pubkey_hash),
                _ => None,
            })
            .unwrap_or(info.pubkey_hash);
        let debit = |token: TokenId| -> Amount {
            queue
                .iter()
                .map(|p| match p.tx {
                    L2Tx::Transfer(t) if t.body.token == token => t.body.amount.0,
                    L2Tx::Withdraw(w) if w.body.token == token => w.body.amount.0,
                    _ => 0,
                })
                .fold(Amount::ZERO, |acc, a| {
                    acc.checked_add(Amount(a)).unwrap_or(Amount::MAX)
                })
        };
        let check_signed = |public_key: &manyfold_types::PublicKey,
                            signature,
                            message,
                            token: TokenId,
                            amount: Amount| {
            if key == PubKeyHash::NONE {
                return Err(StateError::NoKeyRegistered(account));
            }
            if public_key.hash() != key {
                return Err(StateError::WrongSigner(account));
            }
            if !public_key.verify(message, signature) {
                return Err(StateError::BadSignature);
            }
            let balance = state.balance(account, token);
            let available = balance.checked_sub(debit(token)).unwrap_or(Amount::ZERO);
            if available < amount {
                return Err(StateError::InsufficientBalance {
                    account,
                    token,
                    balance: available,
                    amount,
                });
            }
            Ok(())
        };
        match tx {
            L2Tx::Transfer(t) => {
                if state.account(t.body.to).is_none() {
                    return Err(StateError::UnknownAccount(t.body.to).into());
                }
                if t.body.to == account {
                    return Err(StateError::SelfTransfer(account).into());
                }
                check_signed(
                    &t.public_key,
                    &t.signature,
                    t.body.message(),
                    t.body.token,
                    t.body.amount,
                )?;
            }
            L2Tx::Withdraw(w) => {
                state.check_chain(w.body.chain)?;
                check_signed(
                    &w.public_key,
                    &w.signature,
                    w.body.message(),
                    w.body.token,
                    w.body.amount,
                )?;
            }
            L2Tx::ChangePubKey(c) => {
                state.check_chain(c.chain)?;
                let domain = state.chains().domain(c.chain).expect("checked above");
                let signer = manyfold_types::ecdsa::recover_change_pubkey_signer(
                    domain,
                    &c.eth_signature,
                    c.pubkey_hash,
                    c.nonce,
                    c.account,
                )
                .map_err(|e| StateError::BadEthSignature(e.to_string()))?;
                if signer != info.address {
                    return Err(StateError::BadEthSignature(format!("signed by {signer}")).into());
                }
                if c.pubkey_hash == PubKeyHash::NONE {
                    return Err(StateError::ZeroPubKeyHash.into());
                }
            }
        }
        Ok(())
    }

    /// The account's queued transactions with contiguous nonces from `nonce` on.
    fn live_queue(&self, account: AccountId, nonce: Nonce) -> Vec<&Pooled> {
        let Some(queue) = self.by_account.get(&account) else {
            return Vec::new();
        };
        let mut next = nonce;
        queue
            .range(nonce..)
            .take_while(|(n, _)| {
                let ok = **n == next;
                next = Nonce(next.0.wrapping_add(1));
                ok
            })
            .map(|(_, p)| p)
            .collect()
    }

    /// Admits a priority op; each chain's ops must arrive in serial order, once.
    pub fn admit_priority(
        &mut self,
        op: PriorityOp,
        batch: &mut WriteBatch,
    ) -> Result<(), MempoolError> {
        let seq = self.next_seq;
        self.insert_priority(seq, op)?;
        self.next_seq += 1;
        persist::put(batch, seq, &Entry::Priority(op));
        Ok(())
    }

    /// Takes a priority op back out (its durable write failed).
    pub fn forget_priority(&mut self, reference: PriorityRef) {
        if let Some(at) = self
            .priority
            .iter()
            .rposition(|(_, op)| op.reference() == reference)
        {
            self.priority.remove(at);
        }
    }

    fn insert_priority(&mut self, seq: u64, op: PriorityOp) -> Result<(), MempoolError> {
        if self.priority.len() >= self.config.max_priority_ops {
            return Err(MempoolError::PriorityFull {
                limit: self.config.max_priority_ops,
            });
        }
        let PriorityRef { chain, serial_id } = op.reference();
        let queued = self
            .priority
            .iter()
            .filter(|(_, p)| p.reference().chain == chain)
            .count() as u64;
        let expected = self.cursor.get(&chain).copied().unwrap_or(0) + queued;
        if serial_id < expected {
            return Err(MempoolError::DuplicatePriority { chain, serial_id });
        }
        if serial_id > expected {
            return Err(MempoolError::PriorityGap {
                chain,
                expected,
                got: serial_id,
            });
        }
        self.priority.push_back((seq, op));
        Ok(())
    }

    /// Up to `max` ops for the next block: priority ops first (they are owed), then each
    /// account's runnable transactions (nonces contiguous from the account's), taken one
    /// account at a time in turn so that no sender starves the others.
    pub fn candidates(&self, max: usize, state: &L2State) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = self
            .priority
            .iter()
            .take(max)
            .map(|(seq, op)| Candidate {
                seq: *seq,
                op: Op::from(*op),
                tx_hash: None,
                priority: Some(op.reference()),
            })
            .collect();
        let mut runs: Vec<(u64, Vec<&Pooled>)> = self
            .by_account
            .keys()
            .filter_map(|account| {
                let run = self.live_queue(*account, state.account(*account)?.nonce);
                let first_seq = run.first()?.seq;
                Some((first_seq, run))
            })
            .collect();
        runs.sort_by_key(|(first_seq, _)| *first_seq);
        let mut round = 0;
        while out.len() < max {
            let mut took = false;
            for (_, run) in &runs {
                if let Some(p) = run.get(round) {
                    if out.len() == max {
                        break;
                    }
                    out.push(Candidate {
                        seq: p.seq,
                        op: Op::from(p.tx),
                        tx_hash: Some(p.hash),
                        priority: None,
                    });
                    took = true;
                }
            }
            if !took {
                break;
            }
            round += 1;
        }
        out
    }

    /// Drops what a sealed block consumed (`consumed`), advances the priority cursor, and
    /// prunes transactions that can no longer run: nonces the state has passed, and those
    /// queued behind a transaction that failed in the block (their nonce now leaves a gap;
    /// the sender resubmits them). Returns the sequence numbers of pruned entries, whose
    /// rows the caller deletes.
    pub fn on_block(
        &mut self,
        consumed: &HashSet<u64>,
        cursor: &PriorityCursor,
        state: &L2State,
    ) -> Vec<u64> {
        self.priority.retain(|(seq, _)| !consumed.contains(seq));
        for (chain, next) in cursor {
            self.cursor.insert(*chain, *next);
        }
        let mut pruned = Vec::new();
        for (account, queue) in self.by_account.iter_mut() {
            let nonce = state.account(*account).map_or(Nonce(0), |a| a.nonce);
            let mut next = nonce;
            queue.retain(|n, p| {
                let runnable = !consumed.contains(&p.seq) && *n == next;
                if runnable {
                    next = Nonce(next.0.wrapping_add(1));
                }
                let keep = runnable;
                if !keep {
                    self.hashes.remove(&p.hash);
                    self.tx_count -= 1;
                    if !consumed.contains(&p.seq) {
                        pruned.push(p.seq);
                    }
                }
                keep
            });
        }
        self.by_account.retain(|_, q| !q.is_empty());
        pruned
    }
}
