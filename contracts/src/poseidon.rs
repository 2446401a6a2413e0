//! The Poseidon constants the contracts hash with, taken from nova-snark's own.
//!
//! The primary contract recomputes the pubdata commitment and checks exodus Merkle proofs,
//! so it must run the very permutation of [`manyfold_types::poseidon`]. nova-snark keeps
//! the permutation's constants in the "optimised static" form (round constants folded
//! forwards, partial rounds on sparse matrices); only their serialised form is public, so
//! this module reads them from there, re-implements that schedule as [`permute`] (tested
//! against the sponge itself), and writes them as a Solidity file whose layout
//! `PoseidonT5.sol` walks.

use std::sync::LazyLock;

use ff::Field;
use manyfold_types::field::{fr_from_be_bytes, fr_to_be_bytes};
use manyfold_types::poseidon::{constants, Domain};
use manyfold_types::Fr;
use nova_snark::frontend::gadgets::poseidon::{IOPattern, SpongeOp};

/// The permutation's width: one capacity element and four rate elements.
pub const WIDTH: usize = 5;
/// Full rounds, half before and half after the partial rounds.
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds (S-box on the first element only).
pub const PARTIAL_ROUNDS: usize = 56;

/// The constants of the optimised schedule, in the order the Solidity table stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Round constants, already folded: `WIDTH` to start, `WIDTH` after each full round but
    /// the last, one after each partial round.
    pub round_constants: Vec<Fr>,
    /// The MDS matrix, applied as `M · state` in every full round but the last of the
    /// first half.
    pub mds: [[Fr; WIDTH]; WIDTH],
    /// The matrix of the last full round of the first half, applied as `state · P`.
    pub pre_sparse: [[Fr; WIDTH]; WIDTH],
    /// One sparse matrix per partial round: its first column `w_hat` and the rest of its
    /// first row `v_rest` (the rest is the identity).
    pub sparse: Vec<([Fr; WIDTH], [Fr; WIDTH - 1])>,
}

/// nova-snark's constants, read once.
pub fn schedule() -> &'static Schedule {
    static SCHEDULE: LazyLock<Schedule> = LazyLock::new(read_schedule);
    &SCHEDULE
}

fn read_schedule() -> Schedule {
    let json = serde_json::to_value(constants()).expect("the constants serialise");
    let field = |v: &serde_json::Value| -> Fr {
        // nova-snark serialises a field element as the hex of its little-endian bytes.
        let mut bytes: [u8; 32] = alloy_primitives::hex::decode(v.as_str().expect("hex string"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        bytes.reverse();
        fr_from_be_bytes(&bytes).expect("a canonical element")
    };
    let matrix = |v: &serde_json::Value| -> [[Fr; WIDTH]; WIDTH] {
        let rows = v.as_array().expect("matrix rows");
        assert_eq!(rows.len(), WIDTH);
        std::array::from_fn(|i| {
            let row = rows[i].as_array().expect("matrix row");
            assert_eq!(row.len(), WIDTH);
            std::array::from_fn(|j| field(&row[j]))
        })
    };
    assert_eq!(json["rf"], FULL_ROUNDS);
    assert_eq!(json["rp"], PARTIAL_ROUNDS);
    let round_constants: Vec<Fr> = json["crc"]
        .as_array()
        .expect("round constants")
        .iter()
        .map(field)
        .collect();
    assert_eq!(
        round_constants.len(),
        WIDTH * FULL_ROUNDS + PARTIAL_ROUNDS,
        "folded constants: WIDTH at the start, then WIDTH per full round but the last, one per partial round"
    );
    let sparse = json["sm"]
        .as_array()
        .expect("sparse matrices")
        .iter()
        .map(|m| {
            let w_hat: Vec<Fr> = m["w_hat"]
                .as_array()
                .expect("w_hat")
                .iter()
                .map(field)
                .collect();
            let v_rest: Vec<Fr> = m["v_rest"]
                .as_array()
                .expect("v_rest")
                .iter()
                .map(field)
                .collect();
            (
                w_hat.try_into().expect("WIDTH entries"),
                v_rest.try_into().expect("WIDTH - 1 entries"),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(sparse.len(), PARTIAL_ROUNDS);
    Schedule {
        round_constants,
        mds: matrix(&json["mds"]["m"]),
        pre_sparse: matrix(&json["psm"]),
        sparse,
    }
}

fn pow5(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

/// The permutation, step by step as `PoseidonT5.sol` runs it.
pub fn permute(mut state: [Fr; WIDTH]) -> [Fr; WIDTH] {
    let s = schedule();
    let mut rc = s.round_constants.iter().copied();
    let half = FULL_ROUNDS / 2;
    for x in state.iter_mut() {
        *x += rc.next().expect("constant");
    }
    for round in 0..half {
        for x in state.iter_mut() {
            *x = pow5(*x) + rc.next().expect("constant");
        }
        state = if round == half - 1 {
            // state · P (P is not symmetric)
            std::array::from_fn(|j| (0..WIDTH).map(|i| state[i] * s.pre_sparse[i][j]).sum())
        } else {
            mds(&s.mds, &state)
        };
    }
    for (w_hat, v_rest) in &s.sparse {
        state[0] = pow5(state[0]) + rc.next().expect("constant");
        let first: Fr = (0..WIDTH).map(|i| w_hat[i] * state[i]).sum();
        for j in 1..WIDTH {
            state[j] += v_rest[j - 1] * state[0];
        }
        state[0] = first;
    }
    for round in 0..half {
        let last = round == half - 1;
        for x in state.iter_mut() {
            *x = pow5(*x);
            if !last {
                *x += rc.next().expect("constant");
            }
        }
        state = mds(&s.mds, &state);
    }
    assert!(rc.next().is_none(), "every constant is used once");
    state
}

fn mds(m: &[[Fr; WIDTH]; WIDTH], state: &[Fr; WIDTH]) -> [Fr; WIDTH] {
    std::array::from_fn(|i| (0..WIDTH).map(|j| m[i][j] * state[j]).sum())
}

/// The sponge's initial capacity element for `inputs` absorbed under `domain`: the value
/// nova-snark derives from the IO pattern `[Absorb(inputs), Squeeze(1)]`.
pub fn tag(domain: Domain, inputs: u32) -> Fr {
    let value =
        IOPattern(vec![SpongeOp::Absorb(inputs), SpongeOp::Squeeze(1)]).value(domain as u32);
    let mut be = [0u8; 32];
    be[16..].copy_from_slice(&value.to_be_bytes());
    fr_from_be_bytes(&be).expect("128 bits are below the modulus")
}

/// `hash(domain, inputs)` computed through [`permute`]: the tag, the inputs added into the
/// rate, one permutation, the first rate element out.
pub fn hash_via_permutation(domain: Domain, inputs: &[Fr]) -> Fr {
    assert!(!inputs.is_empty() && inputs.len() < WIDTH);
    let mut state = [Fr::ZERO; WIDTH];
    state[0] = tag(domain, inputs.len() as u32);
    state[1..=inputs.len()].copy_from_slice(inputs);
    permute(state)[1]
}

/// The hashes the contracts compute, with their arity and tag.
pub const CONTRACT_TAGS: [(&str, Domain, u32); 4] = [
    ("TAG_NODE", Domain::Node, 4),
    ("TAG_ACCOUNT", Domain::Account, 4),
    ("TAG_STATE", Domain::State, 3),
    ("TAG_PUBDATA", Domain::Pubdata, 4),
];

/// The path of the generated file, relative to the crate.
pub const CONSTANTS_SOL_PATH: &str = "solidity/src/PoseidonConstants.sol";

/// The Solidity file of constants: the sponge tags and one table of 32-byte words.
pub fn constants_solidity() -> String {
    let s = schedule();
    let hex = |x: &Fr| alloy_primitives::hex::encode(fr_to_be_bytes(x));
    let mut table = String::new();
    let mut words = 0usize;
    let mut push = |x: &Fr| {
        table.push_str(&hex(x));
        words += 1;
    };
    s.round_constants.iter().for_each(&mut push);
    s.mds.iter().flatten().for_each(&mut push);
    s.pre_sparse.iter().flatten().for_each(&mut push);
    for (w_hat, v_rest) in &s.sparse {
        w_hat.iter().for_each(&mut push);
        v_rest.iter().for_each(&mut push);
    }
    let mut out = String::new();
    out.push_str("// SPDX-License-Identifier: MIT OR Apache-2.0\n");
    out.push_str(
        "// GENERATED by `MANYFOLD_BLESS=1 cargo test -p manyfold-contracts`; do not edit.\n",
    );
    out.push_str(
        "// nova-snark 0.76's Poseidon constants (BN254 scalar field, width 5, 8 full and\n",
    );
    out.push_str(
        "// 56 partial rounds) in its optimised schedule; see PoseidonT5.sol for the layout.\n",
    );
    out.push_str("pragma solidity 0.8.30;\n\n");
    for (name, domain, inputs) in CONTRACT_TAGS {
        out.push_str(&format!(
            "// Sponge tag of {inputs} inputs under domain {} ({domain:?}).\nuint256 constant {name} = 0x{};\n",
            domain as u32,
            hex(&tag(domain, inputs))
        ));
    }
    out.push_str(&format!(
        "\n// {words} words: {} round constants, the MDS matrix (row-major), the pre-sparse\n// matrix (row-major), then per partial round w_hat (5) and v_rest (4).\nbytes constant POSEIDON_T5_TABLE =\n    hex\"{table}\";\n",
        s.round_constants.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_types::field::fr_from_u128;
    use manyfold_types::poseidon::hash;

    #[test]
    fn the_permutation_reproduces_the_sponge_for_every_domain_and_length() {
        let domains = [
            Domain::Node,
            Domain::Account,
            Domain::State,
            Domain::PubKey,
            Domain::Challenge,
            Domain::Transfer,
            Domain::Withdraw,
            Domain::Pubdata,
        ];
        for (k, domain) in domains.into_iter().enumerate() {
            for n in 1..=4 {
                let inputs: Vec<Fr> = (0..n)
                    .map(|i| {
                        fr_from_u128(0x1234_5678_9abc_def0 * (k as u128 + 3) + i as u128)
                            - Fr::ONE.double()
                    })
                    .collect();
                assert_eq!(
                    hash_via_permutation(domain, &inputs),
                    hash(domain, &inputs),
                    "{domain:?} with {n} inputs"
                );
            }
        }
    }

    #[test]
    fn the_table_has_the_documented_size() {
        let sol = constants_solidity();
        let table = sol
            .split("hex\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(table.len(), 64 * (96 + 25 + 25 + 56 * 9));
    }
}
