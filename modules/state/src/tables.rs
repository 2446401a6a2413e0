//! The tables the state persists: leaves only. Inner tree nodes are rebuilt on open (see
//! the crate README for why).

use manyfold_storage::Table;

/// Account leaves without balances: address (20), pubkey hash (32), nonce (4).
pub(crate) struct Accounts;
impl Table for Accounts {
    const NAME: &'static str = "state.accounts";
    type Key = u32;
    type Value = [u8; 56];
}

/// Non-zero balances by (account, token).
pub(crate) struct Balances;
impl Table for Balances {
    const NAME: &'static str = "state.balances";
    type Key = (u32, u16);
    type Value = u128;
}

/// Non-zero reserves by (chain, token).
pub(crate) struct Reserves;
impl Table for Reserves {
    const NAME: &'static str = "state.reserves";
    type Key = (u16, u16);
    type Value = u128;
}

/// Singletons.
pub(crate) struct Meta;
impl Table for Meta {
    const NAME: &'static str = "state.meta";
    type Key = u8;
    type Value = Vec<u8>;
}

/// [`Meta`] key of the state root written with the last commit, checked on open.
pub(crate) const META_ROOT: u8 = 0;

/// [`Meta`] key of the chain set fixed at genesis (JSON), checked on open.
pub(crate) const META_CHAINS: u8 = 1;
