//! Generators of valid operation sequences, for this crate's tests and for downstream
//! differential tests (enabled by the `test-utils` feature).

use std::collections::HashMap;

use alloy_primitives::Address;
use k256::ecdsa::SigningKey;
use manyfold_types::ecdsa::{eth_address, eth_key_from_seed, sign_change_pubkey};
use manyfold_types::{
    AccountId, Amount, ChainId, ChainSet, ChangePubKey, Deposit, FullExit, Op, PrivateKey, TokenId,
    Transfer, Withdraw,
};
use rand::{Rng, SeedableRng};

use crate::L2State;

/// A user with both of its keys.
#[derive(Debug, Clone)]
pub struct User {
    /// L2 key.
    pub l2: PrivateKey,
    /// Ethereum key; its address owns the account.
    pub eth: SigningKey,
    /// The Ethereum address.
    pub address: Address,
}

impl User {
    /// The user derived from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let bytes = seed.to_be_bytes();
        let eth = eth_key_from_seed(&bytes);
        Self {
            l2: PrivateKey::from_seed(&bytes),
            address: eth_address(&eth),
            eth,
        }
    }
}

/// What to try next; turned into a concrete [`Op`] against the current state. Users,
/// chains and tokens are indices into the [`Scenario`].
#[allow(missing_docs)] // the fields are named for what they hold
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Deposit `amount` for `user`.
    Deposit {
        user: usize,
        chain: u16,
        token: u16,
        amount: u128,
    },
    /// Transfer `percent` of the sender's balance.
    Transfer {
        from: usize,
        to: usize,
        token: u16,
        percent: u8,
    },
    /// Withdraw `percent` of the balance, capped by the chain's reserve.
    Withdraw {
        user: usize,
        chain: u16,
        token: u16,
        percent: u8,
    },
    /// Register the user's L2 key.
    ChangePubKey { user: usize, chain: u16 },
    /// Full exit request by the user.
    FullExit { user: usize, chain: u16, token: u16 },
    /// Padding.
    Noop,
}

/// A population of users and the chains' priority serial counters.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The users.
    pub users: Vec<User>,
    /// Chains in use.
    pub chains: u16,
    /// Tokens in use.
    pub tokens: u16,
    serials: HashMap<ChainId, u64>,
}

impl Scenario {
    /// `users` users over `chains` chains and `tokens` tokens.
    pub fn new(users: usize, chains: u16, tokens: u16) -> Self {
        Self {
            users: (0..users as u64).map(User::from_seed).collect(),
            chains,
            tokens,
            serials: HashMap::new(),
        }
    }

    /// The scenario's chains as a local chain set (see [`ChainSet::local`]).
    pub fn chain_set(&self) -> ChainSet {
        ChainSet::local(usize::from(self.chains))
    }

    /// The genesis state over [`Scenario::chain_set`].
    pub fn genesis(&self) -> L2State {
        L2State::new(self.chain_set())
    }

    /// A random action.
    pub fn random_action(&self, rng: &mut impl Rng) -> Action {
        let user = rng.gen_range(0..self.users.len());
        let chain = rng.gen_range(0..self.chains);
        let token = rng.gen_range(0..self.tokens);
        match rng.gen_range(0..12) {
            0..=2 => Action::Deposit {
                user,
                chain,
                token,
                amount: rng.gen_range(1..1_000_000_000u128),
            },
            3..=6 => Action::Transfer {
                from: user,
                to: rng.gen_range(0..self.users.len()),
                token,
                percent: rng.gen_range(0..=100),
            },
            7..=8 => Action::Withdraw {
                user,
                chain,
                token,
                percent: rng.gen_range(0..=100),
            },
            9 => Action::ChangePubKey { user, chain },
            10 => Action::FullExit { user, chain, token },
            _ => Action::Noop,
        }
    }

    fn serial(&mut self, chain: ChainId) -> u64 {
        let s = self.serials.entry(chain).or_default();
        *s += 1;
        *s - 1
    }

    /// The valid op for `action` in `state`, or `None` if the action makes no sense there
    /// (an account that does not exist yet, a key not registered yet, a self transfer).
    pub fn op(&mut self, state: &L2State, action: Action) -> Option<Op> {
        let chain = |c: u16| ChainId::new(c).expect("few chains");
        let token = |t: u16| TokenId::new(t).expect("few tokens");
        let ready = |user: &User| {
            let id = state.account_id_of(&user.address)?;
            let info = state.account(id)?;
            (info.pubkey_hash == user.l2.public_key().hash()).then_some((id, info.nonce))
        };
        match action {
            Action::Noop => Some(Op::Noop),
            Action::Deposit {
                user,
                chain: c,
                token: t,
                amount,
            } => Some(Op::Deposit(Deposit {
                chain: chain(c),
                serial_id: self.serial(chain(c)),
                address: self.users[user].address,
                token: token(t),
                amount: Amount(amount),
            })),
            Action::FullExit {
                user,
                chain: c,
                token: t,
            } => {
                let account = state
                    .account_id_of(&self.users[user].address)
                    .unwrap_or(AccountId::new(0).expect("0"));
                Some(Op::FullExit(FullExit {
                    chain: chain(c),
                    serial_id: self.serial(chain(c)),
                    account,
                    address: self.users[user].address,
                    token: token(t),
                }))
            }
            Action::ChangePubKey { user, chain: c } => {
                let u = &self.users[user];
                let id = state.account_id_of(&u.address)?;
                let nonce = state.account(id)?.nonce;
                let pubkey_hash = u.l2.public_key().hash();
                let domain = state.chains().domain(chain(c))?;
                Some(Op::ChangePubKey(ChangePubKey {
                    account: id,
                    chain: chain(c),
                    pubkey_hash,
                    nonce,
                    eth_signature: sign_change_pubkey(domain, &u.eth, pubkey_hash, nonce, id),
                }))
            }
            Action::Transfer {
                from,
                to,
                token: t,
                percent,
            } => {
                let (from_id, nonce) = ready(&self.users[from])?;
                let to_id = state.account_id_of(&self.users[to].address)?;
                if from_id == to_id {
                    return None;
                }
                let balance = state.balance(from_id, token(t)).0;
                let amount = Amount(balance / 100 * percent as u128);
                Some(Op::Transfer(
                    Transfer {
                        from: from_id,
                        to: to_id,
                        token: token(t),
                        amount,
                        nonce,
                    }
                    .sign(&self.users[from].l2),
                ))
            }
            Action::Withdraw {
                user,
                chain: c,
                token: t,
                percent,
            } => {
                let (id, nonce) = ready(&self.users[user])?;
                let balance = state.balance(id, token(t)).0;
                let amount =
                    (balance / 100 * percent as u128).min(state.reserve(chain(c), token(t)).0);
                Some(Op::Withdraw(
                    Withdraw {
                        account: id,
                        chain: chain(c),
                        token: token(t),
                        amount: Amount(amount),
                        to: self.users[user].address,
                        nonce,
                    }
                    .sign(&self.users[user].l2),
                ))
            }
        }
    }

    /// `count` valid ops generated from `seed`, applied to `state` as they are made.
    pub fn valid_ops(&mut self, state: &mut L2State, seed: u64, count: usize) -> Vec<Op> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut ops = Vec::with_capacity(count);
        while ops.len() < count {
            let action = self.random_action(&mut rng);
            if let Some(op) = self.op(state, action) {
                state.apply(&op).expect("generated ops are valid");
                ops.push(op);
            }
        }
        ops
    }
}
