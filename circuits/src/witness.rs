//! The prover's witness of one step, built from the state before the op.

use ff::Field;
use manyfold_state::tree::MerklePath;
use manyfold_state::{L2State, LeafSnapshot};
use manyfold_types::field::{fr_from_be_chunk, fr_from_u128};
use manyfold_types::keys::{coordinates, GrumpkinAffine};
use manyfold_types::pubdata::OpType;
use manyfold_types::tx::Signed;
use manyfold_types::{AccountId, ChainId, Fr, Op, TokenId};

/// An account leaf as the circuit reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafWitness {
    /// Non-empty leaf.
    pub exists: bool,
    /// Owner address as a field element.
    pub address: Fr,
    /// Key hash.
    pub pubkey_hash: Fr,
    /// Nonce.
    pub nonce: u32,
    /// Balance of the op's token.
    pub balance: Fr,
    /// Balance-tree root.
    pub balance_root: Fr,
    /// Path of the token in the balance tree.
    pub balance_path: Vec<[Fr; 3]>,
    /// Path of the leaf in the account tree.
    pub account_path: Vec<[Fr; 3]>,
}

impl LeafWitness {
    fn from_snapshot(s: &LeafSnapshot, account_path: &MerklePath) -> Self {
        Self {
            exists: s.exists,
            address: fr_from_be_chunk(s.address.as_slice()),
            pubkey_hash: s.pubkey_hash.0,
            nonce: s.nonce.0,
            balance: fr_from_u128(s.balance.0),
            balance_root: s.balance_root,
            balance_path: s.balance_path.0.clone(),
            account_path: account_path.0.clone(),
        }
    }
}

/// A Schnorr signature as the circuit reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureWitness {
    /// Public key coordinates.
    pub public_key: (Fr, Fr),
    /// The infinity flag the circuit allocates for the key. Always `false` in an honest
    /// witness; it is a field so that tests can play a prover that sets it (the circuit
    /// must then be unsatisfiable).
    pub public_key_infinity: bool,
    /// Nonce commitment coordinates.
    pub r: (Fr, Fr),
    /// The infinity flag allocated for `R`; as `public_key_infinity`.
    pub r_infinity: bool,
    /// The response `s`, 254 little-endian bits (a Grumpkin scalar may exceed the field).
    pub s_bits: Vec<bool>,
}

/// Bits of a Grumpkin scalar, which the circuit multiplies by.
pub const SCALAR_BITS: usize = 254;

impl SignatureWitness {
    fn of<T>(signed: &Signed<T>) -> Self {
        let repr = ff::PrimeField::to_repr(&signed.signature.s);
        let bytes: &[u8] = repr.as_ref();
        let s_bits = (0..SCALAR_BITS)
            .map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1)
            .collect();
        Self {
            public_key: signed.public_key.coordinates(),
            public_key_infinity: false,
            r: coordinates(&signed.signature.r),
            r_infinity: false,
            s_bits,
        }
    }

    /// A placeholder for ops without an L2 signature: valid points, never checked.
    fn none() -> Self {
        let g = coordinates(&GrumpkinAffine::generator());
        Self {
            public_key: g,
            public_key_infinity: false,
            r: g,
            r_infinity: false,
            s_bits: vec![false; SCALAR_BITS],
        }
    }
}

/// Everything the step circuit needs to prove one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepWitness {
    /// Op type.
    pub op_type: OpType,
    /// Chain of the op (its reserve leaf's chain).
    pub chain: u16,
    /// Token of the op.
    pub token: u16,
    /// Account A: signer, depositor, exited account.
    pub account_a: u32,
    /// Account B: a transfer's recipient (A otherwise).
    pub account_b: u32,
    /// The op's amount (zero for ops without one).
    pub amount: u128,
    /// Deposit owner, full-exit requester or withdrawal recipient, as a field element.
    pub address: Fr,
    /// The transaction's nonce.
    pub nonce: u32,
    /// ChangePubKey's new key hash.
    pub new_pubkey_hash: Fr,
    /// Account root and reserve root before the op.
    pub roots: (Fr, Fr),
    /// Accounts created before the op: the next account id, the state root's third input.
    pub account_count: u32,
    /// How many chains the rollup settles on: a constant of the circuit's shape (ops
    /// naming chain ids at or above it are unprovable), carried here so that a step is
    /// built from its witnesses alone.
    pub chains: usize,
    /// A before the op.
    pub a: LeafWitness,
    /// B after A's update.
    pub b: LeafWitness,
    /// The reserve leaf before the op.
    pub reserve: Fr,
    /// Its path.
    pub reserve_path: Vec<[Fr; 3]>,
    /// The L2 signature.
    pub signature: SignatureWitness,
}

impl StepWitness {
    /// The witness of `op` applied to `state` (the state before it). It is built for any
    /// op, valid or not: for an op the state refuses, the circuit is unsatisfiable.
    pub fn build(state: &L2State, op: &Op) -> Self {
        let zero_chain = ChainId::new(0).expect("0");
        let zero_token = TokenId::new(0).expect("0");
        // A deposit from an address without an account takes the next id; when the tree
        // is full it reads any other account's leaf (here account 0's), which proves that
        // it cannot be credited, and is refunded.
        let next_account =
            AccountId::new(state.account_count() as u32).unwrap_or(AccountId::new(0).expect("0"));
        let w = |op_type, chain: ChainId, token: TokenId, a: AccountId, b: AccountId| {
            let snap_a = state.leaf_snapshot(a, token);
            let a_leaf = LeafWitness::from_snapshot(&snap_a, &snap_a.account_path);
            let reserve = state.reserve_snapshot(chain, token);
            StepWitness {
                op_type,
                chain: chain.get(),
                token: token.get(),
                account_a: a.get(),
                account_b: b.get(),
                amount: 0,
                address: Fr::ZERO,
                nonce: 0,
                new_pubkey_hash: Fr::ZERO,
                roots: (state.accounts_root(), state.reserves_root()),
                account_count: state.account_count() as u32,
                chains: state.chains().len(),
                b: a_leaf.clone(),
                a: a_leaf,
                reserve: fr_from_u128(reserve.value.0),
                reserve_path: reserve.path.0,
                signature: SignatureWitness::none(),
            }
        };
        match op {
            Op::Noop => w(
                OpType::Noop,
                zero_chain,
                zero_token,
                AccountId::new(0).expect("0"),
                AccountId::new(0).expect("0"),
            ),
            Op::Deposit(d) => {
                let a = state.account_id_of(&d.address).unwrap_or(next_account);
                let mut out = w(OpType::Deposit, d.chain, d.token, a, a);
                out.amount = d.amount.0;
                out.address = fr_from_be_chunk(d.address.as_slice());
                out
            }
            Op::FullExit(e) => {
                let mut out = w(OpType::FullExit, e.chain, e.token, e.account, e.account);
                out.address = fr_from_be_chunk(e.address.as_slice());
                out
            }
            Op::ChangePubKey(c) => {
                let mut out = w(
                    OpType::ChangePubKey,
                    c.chain,
                    zero_token,
                    c.account,
                    c.account,
                );
                out.nonce = c.nonce.0;
                out.new_pubkey_hash = c.pubkey_hash.0;
                out
            }
            Op::Withdraw(s) => {
                let b = &s.body;
                let mut out = w(OpType::Withdraw, b.chain, b.token, b.account, b.account);
                out.amount = b.amount.0;
                out.address = fr_from_be_chunk(b.to.as_slice());
                out.nonce = b.nonce.0;
                out.signature = SignatureWitness::of(s);
                out
            }
            Op::Transfer(s) => {
                let t = &s.body;
                let mut out = w(OpType::Transfer, zero_chain, t.token, t.from, t.to);
                out.amount = t.amount.0;
                out.nonce = t.nonce.0;
                out.signature = SignatureWitness::of(s);
                // B's path is read in the tree where A's leaf already holds its new value,
                // computed here with field arithmetic exactly as the circuit does.
                let a = &out.a;
                let balance_a = a.balance - fr_from_u128(t.amount.0);
                let path = MerklePath(a.balance_path.clone());
                let balance_root = path.root_of(t.token.get() as u64, balance_a);
                let leaf_a = if a.exists {
                    account_leaf_hash_fr(
                        a.address,
                        a.pubkey_hash,
                        Fr::from(a.nonce as u64 + 1),
                        balance_root,
                    )
                } else {
                    Fr::ZERO
                };
                let snap_b = state.leaf_snapshot(t.to, t.token);
                let path_b = state.account_path_with(t.to, t.from, leaf_a);
                out.b = LeafWitness::from_snapshot(&snap_b, &path_b);
                out
            }
        }
    }
}

/// `manyfold_state::account_leaf_hash` over field elements (in a refused op the nonce may
/// have left `u32`).
pub(crate) fn account_leaf_hash_fr(
    address: Fr,
    pubkey_hash: Fr,
    nonce: Fr,
    balance_root: Fr,
) -> Fr {
    use manyfold_types::poseidon::{hash, Domain};
    hash(
        Domain::Account,
        &[address, pubkey_hash, nonce, balance_root],
    )
}
