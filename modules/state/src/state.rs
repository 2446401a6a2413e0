use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy_primitives::Address;
use manyfold_storage::{Storage, StorageExt, WriteBatch};
use manyfold_types::ecdsa::recover_change_pubkey_signer;
use manyfold_types::field::{fr_from_be_chunk, fr_from_u128, fr_to_be_bytes};
use manyfold_types::poseidon::{hash, Domain};
use manyfold_types::tx::Signed;
use manyfold_types::{
    AccountId, Amount, ChainId, ChainSet, ChangePubKey, Deposit, Fr, FullExit, Nonce, Op,
    OpPubdata, PubKeyHash, TokenId, Transfer, Withdraw,
};

use crate::error::{Result, StateError};
use crate::proof::{AccountProof, BalanceProof, ExitProof};
use crate::tables::{Accounts, Balances, Meta, Reserves, META_CHAINS, META_ROOT};
use crate::tree::SparseMerkleTree;

/// Depth of the account tree: 4^12 = 2^24 accounts.
pub const ACCOUNT_TREE_DEPTH: usize = 12;
/// Depth of each account's balance tree: 4^5 = 2^10 tokens.
pub const BALANCE_TREE_DEPTH: usize = 5;
/// Depth of the reserve tree, keyed by `chain · 2^10 + token`: 4^7 = 16 chains × 2^10 tokens.
pub const RESERVE_TREE_DEPTH: usize = 7;

/// The hash of an account leaf.
pub fn account_leaf_hash(
    address: Address,
    pubkey_hash: PubKeyHash,
    nonce: Nonce,
    balance_root: Fr,
) -> Fr {
    hash(
        Domain::Account,
        &[
            fr_from_be_chunk(address.as_slice()),
            pubkey_hash.0,
            Fr::from(nonce.0 as u64),
            balance_root,
        ],
    )
}

/// The state root: `H_state(accounts root, reserves root, account count)`. The count is
/// the next account id, so that the circuit can tell where a deposit's new account goes
/// and when the tree is full (DESIGN §4).
pub fn state_root(accounts_root: Fr, reserves_root: Fr, account_count: u32) -> Fr {
    hash(
        Domain::State,
        &[
            accounts_root,
            reserves_root,
            Fr::from(u64::from(account_count)),
        ],
    )
}

/// The stored form of a chain set: each chain's EVM chain id (8 bytes) and contract (20).
fn encode_chain_set(chains: &ChainSet) -> Vec<u8> {
    chains
        .ids()
        .flat_map(|id| {
            let d = chains.domain(id).expect("ids are members");
            [&d.evm_chain_id.to_be_bytes()[..], d.settlement.as_slice()].concat()
        })
        .collect()
}

/// The reserve tree's leaf index of (chain, token): `chain · 2^10 + token`.
pub fn reserve_index(chain: ChainId, token: TokenId) -> u64 {
    ((chain.get() as u64) << TokenId::BITS) | token.get() as u64
}

#[derive(Debug, Clone)]
struct Account {
    address: Address,
    pubkey_hash: PubKeyHash,
    nonce: Nonce,
    balances: HashMap<TokenId, Amount>,
    balance_tree: SparseMerkleTree,
}

impl Account {
    fn new(address: Address) -> Self {
        Self {
            address,
            pubkey_hash: PubKeyHash::NONE,
            nonce: Nonce(0),
            balances: HashMap::new(),
            balance_tree: SparseMerkleTree::new(BALANCE_TREE_DEPTH),
        }
    }

    fn balance(&self, token: TokenId) -> Amount {
        self.balances.get(&token).copied().unwrap_or(Amount::ZERO)
    }

    fn leaf_hash(&self) -> Fr {
        account_leaf_hash(
            self.address,
            self.pubkey_hash,
            self.nonce,
            self.balance_tree.root(),
        )
    }
}

/// A public view of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// Id.
    pub id: AccountId,
    /// Owner address.
    pub address: Address,
    /// Registered L2 key hash ([`PubKeyHash::NONE`] if none).
    pub pubkey_hash: PubKeyHash,
    /// Current nonce.
    pub nonce: Nonce,
    /// Non-zero balances.
    pub balances: BTreeMap<TokenId, Amount>,
}

/// What an applied op produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedOp {
    /// Its pubdata record.
    pub pubdata: OpPubdata,
}

impl AppliedOp {
    /// The chain besides the primary that must commit this op, if any.
    pub fn onchain_for(&self) -> Option<ChainId> {
        self.pubdata.onchain_for()
    }
}

/// An account leaf as it was before the circuit's update of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSnapshot {
    /// The account.
    pub account: AccountId,
    /// Whether the leaf was non-empty.
    pub exists: bool,
    /// Its address (zero if empty).
    pub address: Address,
    /// Its key hash.
    pub pubkey_hash: PubKeyHash,
    /// Its nonce.
    pub nonce: Nonce,
    /// Its balance of the op's token.
    pub balance: Amount,
    /// Root of its balance tree.
    pub balance_root: Fr,
    /// Path of the op's token in its balance tree.
    pub balance_path: crate::tree::MerklePath,
    /// Path of the leaf in the account tree.
    pub account_path: crate::tree::MerklePath,
}

/// The reserve leaf of the op's (chain, token) before the op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveSnapshot {
    /// Chain.
    pub chain: ChainId,
    /// Token.
    pub token: TokenId,
    /// Reserve before.
    pub value: Amount,
    /// Path in the reserve tree.
    pub path: crate::tree::MerklePath,
}

/// One change an op makes; a plan of these is computed, fully checked, before any is made.
#[derive(Debug)]
enum Effect {
    CreateAccount(Address),
    Balance(AccountId, TokenId, Amount),
    Reserve(ChainId, TokenId, Amount),
    Nonce(AccountId, Nonce),
    PubKey(AccountId, PubKeyHash),
}

#[derive(Debug, Default, Clone)]
struct Dirty {
    accounts: BTreeSet<AccountId>,
    balances: BTreeSet<(AccountId, TokenId)>,
    reserves: BTreeSet<(ChainId, TokenId)>,
}

/// The L2 state. See the crate docs.
#[derive(Debug, Clone)]
pub struct L2State {
    chains: ChainSet,
    accounts: Vec<Account>,
    by_address: HashMap<Address, AccountId>,
    account_tree: SparseMerkleTree,
    reserves: HashMap<(ChainId, TokenId), Amount>,
    reserve_tree: SparseMerkleTree,
    dirty: Dirty,
}

impl L2State {
    /// The genesis state of a rollup settled on `chains`: no accounts, no reserves.
    pub fn new(chains: ChainSet) -> Self {
        Self {
            chains,
            accounts: Vec::new(),
            by_address: HashMap::new(),
            account_tree: SparseMerkleTree::new(ACCOUNT_TREE_DEPTH),
            reserves: HashMap::new(),
            reserve_tree: SparseMerkleTree::new(RESERVE_TREE_DEPTH),
            dirty: Dirty::default(),
        }
    }

    /// Loads the last committed state from `storage`, rebuilding the trees, and checks
    /// the rebuilt root against the root stored with the last commit, and `chains`
    /// against the chain set the state was created with (it is fixed at genesis).
    pub fn open(storage: &dyn Storage, chains: ChainSet) -> Result<Self> {
        if let Some(stored) = storage.get::<Meta>(&META_CHAINS)? {
            if stored != encode_chain_set(&chains) {
                return Err(StateError::ChainSetMismatch(format!(
                    "the configured {} chains {chains:?} differ from those of the stored state",
                    chains.len(),
                )));
            }
        }
        let mut state = Self::new(chains);
        for (id, raw) in storage.scan::<Accounts>()? {
            if id as usize != state.accounts.len() {
                return Err(StateError::Corrupt(format!(
                    "account ids are not dense at {id}"
                )));
            }
            let address = Address::from_slice(&raw[..20]);
            let pkh = PubKeyHash::from_bytes(raw[20..52].try_into().expect("32 bytes"))
                .map_err(|e| StateError::Corrupt(e.to_string()))?;
            let nonce = Nonce(u32::from_be_bytes(raw[52..56].try_into().expect("4 bytes")));
            let mut account = Account::new(address);
            account.pubkey_hash = pkh;
            account.nonce = nonce;
            state.by_address.insert(
                address,
                AccountId::new(id).map_err(|e| StateError::Corrupt(e.to_string()))?,
            );
            state.accounts.push(account);
        }
        for ((id, token), balance) in storage.scan::<Balances>()? {
            let account = state
                .accounts
                .get_mut(id as usize)
                .ok_or_else(|| StateError::Corrupt(format!("balance of missing account {id}")))?;
            let token = TokenId::new(token).map_err(|e| StateError::Corrupt(e.to_string()))?;
            account.balances.insert(token, Amount(balance));
        }
        for account in &mut state.accounts {
            account.balance_tree = SparseMerkleTree::from_leaves(
                BALANCE_TREE_DEPTH,
                account
                    .balances
                    .iter()
                    .map(|(t, a)| (t.get() as u64, fr_from_u128(a.0))),
            );
        }
        state.account_tree = SparseMerkleTree::from_leaves(
            ACCOUNT_TREE_DEPTH,
            state
                .accounts
                .iter()
                .enumerate()
                .map(|(i, a)| (i as u64, a.leaf_hash())),
        );
        for ((chain, token), reserve) in storage.scan::<Reserves>()? {
            let chain = ChainId::new(chain).map_err(|e| StateError::Corrupt(e.to_string()))?;
            let token = TokenId::new(token).map_err(|e| StateError::Corrupt(e.to_string()))?;
            state.reserves.insert((chain, token), Amount(reserve));
        }
        state.reserve_tree = SparseMerkleTree::from_leaves(
            RESERVE_TREE_DEPTH,
            state
                .reserves
                .iter()
                .map(|((c, t), a)| (reserve_index(*c, *t), fr_from_u128(a.0))),
        );
        let stored_root = storage.get::<Meta>(&META_ROOT)?;
        let root = state.root();
        match stored_root {
            None if state.accounts.is_empty() && state.reserves.is_empty() => Ok(state),
            Some(bytes) if bytes == fr_to_be_bytes(&root) => Ok(state),
            _ => Err(StateError::Corrupt(
                "rebuilt root differs from the committed root".into(),
            )),
        }
    }

    /// The state root: see [`state_root`].
    pub fn root(&self) -> Fr {
        state_root(
            self.account_tree.root(),
            self.reserve_tree.root(),
            self.accounts.len() as u32,
        )
    }

    /// The chain set fixed at genesis.
    pub fn chains(&self) -> &ChainSet {
        &self.chains
    }

    /// Refuses a chain outside the chain set (DESIGN §1).
    pub fn check_chain(&self, chain: ChainId) -> Result<()> {
        if self.chains.contains(chain) {
            Ok(())
        } else {
            Err(StateError::UnknownChain {
                chain,
                chains: self.chains.len(),
            })
        }
    }

    /// Root of the account tree.
    pub fn accounts_root(&self) -> Fr {
        self.account_tree.root()
    }

    /// Root of the reserve tree.
    pub fn reserves_root(&self) -> Fr {
        self.reserve_tree.root()
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// The account `id`, if it exists.
    pub fn account(&self, id: AccountId) -> Option<AccountInfo> {
        self.accounts.get(id.get() as usize).map(|a| AccountInfo {
            id,
            address: a.address,
            pubkey_hash: a.pubkey_hash,
            nonce: a.nonce,
            balances: a.balances.iter().map(|(t, v)| (*t, *v)).collect(),
        })
    }

    /// The account owned by `address`, if any.
    pub fn account_id_of(&self, address: &Address) -> Option<AccountId> {
        self.by_address.get(address).copied()
    }

    /// The balance of `token` held by `id` (zero for unknown accounts).
    pub fn balance(&self, id: AccountId, token: TokenId) -> Amount {
        self.get(id)
            .map(|a| a.balance(token))
            .unwrap_or(Amount::ZERO)
    }

    /// What `chain` holds of `token` for L2: deposits minus withdrawals there.
    pub fn reserve(&self, chain: ChainId, token: TokenId) -> Amount {
        self.reserves
            .get(&(chain, token))
            .copied()
            .unwrap_or(Amount::ZERO)
    }

    fn get(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(id.get() as usize)
    }

    fn existing(&self, id: AccountId) -> Result<&Account> {
        self.get(id).ok_or(StateError::UnknownAccount(id))
    }

    /// Checks `op` against every rule without changing anything.
    pub fn check(&self, op: &Op) -> Result<OpPubdata> {
        self.plan(op).map(|(pubdata, _)| pubdata)
    }

    /// Applies `op`, or refuses it leaving the state unchanged.
    pub fn apply(&mut self, op: &Op) -> Result<AppliedOp> {
        let (pubdata, effects) = self.plan(op)?;
        for effect in effects {
            self.execute(effect);
        }
        Ok(AppliedOp { pubdata })
    }

    /// Applies an op known only by its published pubdata, as a verifier of the chains
    /// rebuilds the state in exodus, with the operator gone: every L2 effect of an op is a
    /// function of its pubdata (a transfer or withdrawal moves its amount and bumps the
    /// signer's nonce by one; a ChangePubKey publishes the nonce it used), so a replay of
    /// every executed block's pubdata from genesis reaches that block's state root.
    /// Signatures are not checked (they are not published; the proof covered them), but
    /// every rule the pubdata must agree with is: a deposit's account is the one the state
    /// assigns, balances and reserves neither go below zero nor overflow, a full exit pays
    /// the whole balance or nothing, a ChangePubKey's nonce and address are the account's.
    /// A record that disagrees is refused, leaving the state unchanged.
    pub fn replay(&mut self, pubdata: &OpPubdata) -> Result<()> {
        let effects = match *pubdata {
            OpPubdata::Noop => Vec::new(),
            OpPubdata::Deposit {
                chain,
                token,
                amount,
                address,
                ..
            } => {
                let (planned, effects) = self.plan_deposit(&Deposit {
                    chain,
                    serial_id: 0,
                    address,
                    token,
                    amount,
                })?;
                Self::same(&planned, pubdata)?;
                effects
            }
            OpPubdata::FullExit {
                chain,
                account,
                token,
                address,
                ..
            } => {
                self.check_chain(chain)?;
                let (planned, effects) = self.plan_full_exit(&FullExit {
                    chain,
                    serial_id: 0,
                    account,
                    address,
                    token,
                });
                Self::same(&planned, pubdata)?;
                effects
            }
            OpPubdata::Transfer {
                from,
                to,
                token,
                amount,
            } => {
                let nonce = self.replayed_nonce(from)?;
                self.existing(to)?;
                if from == to {
                    return Err(StateError::SelfTransfer(from));
                }
                let from_balance = self.debit(from, token, amount)?;
                let to_balance = self
                    .balance(to, token)
                    .checked_add(amount)
                    .ok_or(StateError::BalanceOverflow { account: to, token })?;
                vec![
                    Effect::Balance(from, token, from_balance),
                    Effect::Nonce(from, nonce),
                    Effect::Balance(to, token, to_balance),
                ]
            }
            OpPubdata::Withdraw {
                chain,
                account,
                token,
                amount,
                ..
            } => {
                self.check_chain(chain)?;
                let nonce = self.replayed_nonce(account)?;
                let balance = self.debit(account, token, amount)?;
                let reserve = self.reserve(chain, token);
                let new_reserve =
                    reserve
                        .checked_sub(amount)
                        .ok_or(StateError::InsufficientReserve {
                            chain,
                            token,
                            reserve,
                            amount,
                        })?;
                vec![
                    Effect::Balance(account, token, balance),
                    Effect::Nonce(account, nonce),
                    Effect::Reserve(chain, token, new_reserve),
                ]
            }
            OpPubdata::ChangePubKey {
                chain,
                account,
                pubkey_hash,
                address,
                nonce,
            } => {
                self.check_chain(chain)?;
                let a = self.existing(account)?;
                if pubkey_hash == PubKeyHash::NONE {
                    return Err(StateError::ZeroPubKeyHash);
                }
                if a.address != address {
                    return Err(StateError::BadEthSignature(format!(
                        "published for {address}, the account is {}",
                        a.address
                    )));
                }
                let next = self.check_nonce(account, a.nonce, nonce)?;
                vec![
                    Effect::PubKey(account, pubkey_hash),
                    Effect::Nonce(account, next),
                ]
            }
        };
        for effect in effects {
            self.execute(effect);
        }
        Ok(())
    }

    /// The nonce after one more signed transaction of `account` (which must exist).
    fn replayed_nonce(&self, account: AccountId) -> Result<Nonce> {
        let a = self.existing(account)?;
        a.nonce.next().ok_or(StateError::NonceExhausted(account))
    }

    /// Refuses a published record that differs from what the state makes of the op.
    fn same(planned: &OpPubdata, published: &OpPubdata) -> Result<()> {
        if planned == published {
            Ok(())
        } else {
            Err(StateError::NotReplayable(format!(
                "{published:?} is not what the state makes of the op: {planned:?}"
            )))
        }
    }

    /// Account `id` as the circuit sees its leaf, with the paths of the leaf and of its
    /// balance of `token`. An absent account is an empty leaf.
    pub fn leaf_snapshot(&self, id: AccountId, token: TokenId) -> LeafSnapshot {
        let empty_balances = SparseMerkleTree::new(BALANCE_TREE_DEPTH);
        let (exists, address, pubkey_hash, nonce, tree) = match self.get(id) {
            Some(a) => (true, a.address, a.pubkey_hash, a.nonce, &a.balance_tree),
            None => (
                false,
                Address::ZERO,
                PubKeyHash::NONE,
                Nonce(0),
                &empty_balances,
            ),
        };
        LeafSnapshot {
            account: id,
            exists,
            address,
            pubkey_hash,
            nonce,
            balance: self.balance(id, token),
            balance_root: tree.root(),
            balance_path: tree.path(token.get() as u64),
            account_path: self.account_tree.path(id.get() as u64),
        }
    }

    /// The path of account `id` in the account tree as it would be if leaf `changed` held
    /// `leaf` (the circuit updates a transfer's recipient after its sender).
    pub fn account_path_with(
        &self,
        id: AccountId,
        changed: AccountId,
        leaf: Fr,
    ) -> crate::tree::MerklePath {
        self.account_tree
            .path_with(id.get() as u64, changed.get() as u64, leaf)
    }

    /// The reserve leaf of (chain, token) with its path.
    pub fn reserve_snapshot(&self, chain: ChainId, token: TokenId) -> ReserveSnapshot {
        ReserveSnapshot {
            chain,
            token,
            value: self.reserve(chain, token),
            path: self.reserve_tree.path(reserve_index(chain, token)),
        }
    }

    fn plan(&self, op: &Op) -> Result<(OpPubdata, Vec<Effect>)> {
        match op {
            Op::Noop => Ok((OpPubdata::Noop, Vec::new())),
            Op::Deposit(d) => self.plan_deposit(d),
            Op::FullExit(e) => {
                self.check_chain(e.chain)?;
                Ok(self.plan_full_exit(e))
            }
            Op::Transfer(t) => self.plan_transfer(t),
            Op::Withdraw(w) => self.plan_withdraw(w),
            Op::ChangePubKey(c) => self.plan_change_pubkey(c),
        }
    }

    /// A deposit is never refused on a known chain: one that cannot be credited (no free
    /// account slot, or a balance or reserve that would overflow) is processed as a
    /// refund, which consumes its priority request and changes nothing on L2; its chain
    /// pays the depositor back when the block executes (DESIGN §4).
    fn plan_deposit(&self, d: &Deposit) -> Result<(OpPubdata, Vec<Effect>)> {
        self.check_chain(d.chain)?;
        let refund = OpPubdata::Deposit {
            chain: d.chain,
            account: AccountId::new(0).expect("0"),
            token: d.token,
            amount: d.amount,
            address: d.address,
            refunded: true,
        };
        let mut effects = Vec::with_capacity(3);
        let (account, balance) = match self.by_address.get(&d.address) {
            Some(id) => (*id, self.balance(*id, d.token)),
            None => match AccountId::new(self.accounts.len() as u32) {
                Ok(id) => {
                    effects.push(Effect::CreateAccount(d.address));
                    (id, Amount::ZERO)
                }
                Err(_) => return Ok((refund, Vec::new())),
            },
        };
        let (Some(new_balance), Some(new_reserve)) = (
            balance.checked_add(d.amount),
            self.reserve(d.chain, d.token).checked_add(d.amount),
        ) else {
            return Ok((refund, Vec::new()));
        };
        effects.push(Effect::Balance(account, d.token, new_balance));
        effects.push(Effect::Reserve(d.chain, d.token, new_reserve));
        let pubdata = OpPubdata::Deposit {
            chain: d.chain,
            account,
            token: d.token,
            amount: d.amount,
            address: d.address,
            refunded: false,
        };
        Ok((pubdata, effects))
    }

    /// A full exit is never refused: one that cannot be paid is processed with amount 0.
    fn plan_full_exit(&self, e: &FullExit) -> (OpPubdata, Vec<Effect>) {
        let balance = match self.get(e.account) {
            Some(a) if a.address == e.address => a.balance(e.token),
            _ => Amount::ZERO,
        };
        let reserve = self.reserve(e.chain, e.token);
        let amount = if balance <= reserve {
            balance
        } else {
            Amount::ZERO
        };
        let mut effects = Vec::new();
        if amount != Amount::ZERO {
            effects.push(Effect::Balance(e.account, e.token, Amount::ZERO));
            effects.push(Effect::Reserve(
                e.chain,
                e.token,
                reserve.checked_sub(amount).expect("amount <= reserve"),
            ));
        }
        let pubdata = OpPubdata::FullExit {
            chain: e.chain,
            account: e.account,
            token: e.token,
            amount,
            address: e.address,
        };
        (pubdata, effects)
    }

    /// Checks the signer and nonce of an L2-signed transaction; returns the next nonce.
    fn check_signed<T>(
        &self,
        account: AccountId,
        nonce: Nonce,
        signed: &Signed<T>,
        message: Fr,
    ) -> Result<Nonce> {
        let a = self.existing(account)?;
        if a.pubkey_hash == PubKeyHash::NONE {
            return Err(StateError::NoKeyRegistered(account));
        }
        if signed.public_key.hash() != a.pubkey_hash {
            return Err(StateError::WrongSigner(account));
        }
        if !signed.public_key.verify(message, &signed.signature) {
            return Err(StateError::BadSignature);
        }
        self.check_nonce(account, a.nonce, nonce)
    }

    fn check_nonce(&self, account: AccountId, current: Nonce, given: Nonce) -> Result<Nonce> {
        if given != current {
            return Err(StateError::BadNonce {
                account,
                expected: current,
                got: given,
            });
        }
        current.next().ok_or(StateError::NonceExhausted(account))
    }

    fn debit(&self, account: AccountId, token: TokenId, amount: Amount) -> Result<Amount> {
        let balance = self.balance(account, token);
        balance
            .checked_sub(amount)
            .ok_or(StateError::InsufficientBalance {
                account,
                token,
                balance,
                amount,
            })
    }

    fn plan_transfer(&self, signed: &Signed<Transfer>) -> Result<(OpPubdata, Vec<Effect>)> {
        let t = &signed.body;
        let next_nonce = self.check_signed(t.from, t.nonce, signed, t.message())?;
        self.existing(t.to)?;
        if t.from == t.to {
            return Err(StateError::SelfTransfer(t.from));
        }
        let from_balance = self.debit(t.from, t.token, t.amount)?;
        let to_balance = self.balance(t.to, t.token).checked_add(t.amount).ok_or(
            StateError::BalanceOverflow {
                account: t.to,
                token: t.token,
            },
        )?;
        let effects = vec![
            Effect::Balance(t.from, t.token, from_balance),
            Effect::Nonce(t.from, next_nonce),
            Effect::Balance(t.to, t.token, to_balance),
        ];
        let pubdata = OpPubdata::Transfer {
            from: t.from,
            to: t.to,
            token: t.token,
            amount: t.amount,
        };
        Ok((pubdata, effects))
    }

    fn plan_withdraw(&self, signed: &Signed<Withdraw>) -> Result<(OpPubdata, Vec<Effect>)> {
        let w = &signed.body;
        self.check_chain(w.chain)?;
        let next_nonce = self.check_signed(w.account, w.nonce, signed, w.message())?;
        let balance = self.debit(w.account, w.token, w.amount)?;
        let reserve = self.reserve(w.chain, w.token);
        let new_reserve = reserve
            .checked_sub(w.amount)
            .ok_or(StateError::InsufficientReserve {
                chain: w.chain,
                token: w.token,
                reserve,
                amount: w.amount,
            })?;
        let effects = vec![
            Effect::Balance(w.account, w.token, balance),
            Effect::Nonce(w.account, next_nonce),
            Effect::Reserve(w.chain, w.token, new_reserve),
        ];
        let pubdata = OpPubdata::Withdraw {
            chain: w.chain,
            account: w.account,
            token: w.token,
            amount: w.amount,
            address: w.to,
        };
        Ok((pubdata, effects))
    }

    fn plan_change_pubkey(&self, c: &ChangePubKey) -> Result<(OpPubdata, Vec<Effect>)> {
        self.check_chain(c.chain)?;
        let a = self.existing(c.account)?;
        if c.pubkey_hash == PubKeyHash::NONE {
            return Err(StateError::ZeroPubKeyHash);
        }
        let next_nonce = self.check_nonce(c.account, a.nonce, c.nonce)?;
        let domain = self.chains.domain(c.chain).expect("checked above");
        let signer = recover_change_pubkey_signer(
            domain,
            &c.eth_signature,
            c.pubkey_hash,
            c.nonce,
            c.account,
        )
        .map_err(|e| StateError::BadEthSignature(e.to_string()))?;
        if signer != a.address {
            return Err(StateError::BadEthSignature(format!(
                "signed by {signer}, the account is {}",
                a.address
            )));
        }
        let effects = vec![
            Effect::PubKey(c.account, c.pubkey_hash),
            Effect::Nonce(c.account, next_nonce),
        ];
        let pubdata = OpPubdata::ChangePubKey {
            chain: c.chain,
            account: c.account,
            pubkey_hash: c.pubkey_hash,
            address: a.address,
            nonce: c.nonce,
        };
        Ok((pubdata, effects))
    }

    fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::CreateAccount(address) => {
                let id = AccountId::new(self.accounts.len() as u32).expect("checked when planned");
                self.accounts.push(Account::new(address));
                self.by_address.insert(address, id);
                self.refresh_account(id);
            }
            Effect::Balance(id, token, amount) => {
                let account = &mut self.accounts[id.get() as usize];
                if amount == Amount::ZERO {
                    account.balances.remove(&token);
                } else {
                    account.balances.insert(token, amount);
                }
                account
                    .balance_tree
                    .set(token.get() as u64, fr_from_u128(amount.0));
                self.dirty.balances.insert((id, token));
                self.refresh_account(id);
            }
            Effect::Reserve(chain, token, amount) => {
                if amount == Amount::ZERO {
                    self.reserves.remove(&(chain, token));
                } else {
                    self.reserves.insert((chain, token), amount);
                }
                self.reserve_tree
                    .set(reserve_index(chain, token), fr_from_u128(amount.0));
                self.dirty.reserves.insert((chain, token));
            }
            Effect::Nonce(id, nonce) => {
                self.accounts[id.get() as usize].nonce = nonce;
                self.refresh_account(id);
            }
            Effect::PubKey(id, pkh) => {
                self.accounts[id.get() as usize].pubkey_hash = pkh;
                self.refresh_account(id);
            }
        }
    }

    fn refresh_account(&mut self, id: AccountId) {
        let leaf = self.accounts[id.get() as usize].leaf_hash();
        self.account_tree.set(id.get() as u64, leaf);
        self.dirty.accounts.insert(id);
    }

    /// Moves every change since the last call into `batch`, with the new root. The caller
    /// commits the batch (with its own writes), which makes these changes durable.
    pub fn write_changes(&mut self, batch: &mut WriteBatch) {
        let dirty = std::mem::take(&mut self.dirty);
        for id in dirty.accounts {
            let a = &self.accounts[id.get() as usize];
            let mut raw = [0u8; 56];
            raw[..20].copy_from_slice(a.address.as_slice());
            raw[20..52].copy_from_slice(&a.pubkey_hash.to_bytes());
            raw[52..].copy_from_slice(&a.nonce.0.to_be_bytes());
            batch.put::<Accounts>(&id.get(), &raw);
        }
        for (id, token) in dirty.balances {
            let key = (id.get(), token.get());
            match self.balance(id, token) {
                Amount::ZERO => batch.delete::<Balances>(&key),
                amount => batch.put::<Balances>(&key, &amount.0),
            }
        }
        for (chain, token) in dirty.reserves {
            let key = (chain.get(), token.get());
            match self.reserve(chain, token) {
                Amount::ZERO => batch.delete::<Reserves>(&key),
                amount => batch.put::<Reserves>(&key, &amount.0),
            }
        }
        batch.put::<Meta>(&META_ROOT, &fr_to_be_bytes(&self.root()).to_vec());
        batch.put::<Meta>(&META_CHAINS, &encode_chain_set(&self.chains));
    }

    /// Writes every change since the last commit to `storage`, atomically and durably.
    pub fn commit(&mut self, storage: &dyn Storage) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.write_changes(&mut batch);
        storage.commit(batch)?;
        Ok(())
    }

    /// A Merkle proof of account `id`'s leaf (an absent account proves the empty leaf).
    pub fn account_proof(&self, id: AccountId) -> AccountProof {
        let (address, pubkey_hash, nonce, balance_root) = match self.get(id) {
            Some(a) => (
                Some(a.address),
                a.pubkey_hash,
                a.nonce,
                a.balance_tree.root(),
            ),
            None => (
                None,
                PubKeyHash::NONE,
                Nonce(0),
                crate::tree::empty_hash(BALANCE_TREE_DEPTH),
            ),
        };
        AccountProof {
            account: id,
            address,
            pubkey_hash,
            nonce,
            balance_root,
            path: self.account_tree.path(id.get() as u64),
            reserves_root: self.reserve_tree.root(),
            account_count: self.accounts.len() as u32,
        }
    }

    /// A Merkle proof of `id`'s balance of `token` within its balance tree.
    pub fn balance_proof(&self, id: AccountId, token: TokenId) -> BalanceProof {
        let path = match self.get(id) {
            Some(a) => a.balance_tree.path(token.get() as u64),
            None => SparseMerkleTree::new(BALANCE_TREE_DEPTH).path(token.get() as u64),
        };
        BalanceProof {
            token,
            balance: self.balance(id, token),
            path,
        }
    }

    /// The proof an exodus exit presents: account leaf and balance, against the state root.
    pub fn exit_proof(&self, id: AccountId, token: TokenId) -> ExitProof {
        ExitProof {
            account: self.account_proof(id),
            balance: self.balance_proof(id, token),
        }
    }
}
