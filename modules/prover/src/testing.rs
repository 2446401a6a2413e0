//! Test support (feature `test-utils`): the devnet parameters every crate's tests share,
//! and a real proof of a small block, for the tests that verify proofs where they are
//! checked (the precompile, the embedded chain, the contracts).

use std::path::Path;

use manyfold_circuits::StepWitness;
use manyfold_state::L2State;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::{ChainSet, Fr, Op, OpPubdata};

use crate::params::load_or_setup;
use crate::{BlockProof, Folding, Params, PtauSource};

/// The devnet parameters for a rollup over `chains` chains, cached under `root` (an
/// insecure local powers-of-tau file in `root/ptau`, parameters in `root/params`). Tests
/// share one `root` (cargo's target tmp dir) so that the set-up is paid once.
pub fn devnet_params(root: &Path, chains: usize) -> Params {
    load_or_setup(
        &root.join("params"),
        &PtauSource::InsecureDevnet(root.join("ptau")),
        &ChainSet::local(chains),
    )
    .expect("devnet parameters")
}

/// A real proof of one block holding one Noop, from genesis.
#[derive(Debug, Clone)]
pub struct NoopBlock {
    /// The state root of genesis.
    pub genesis_root: Fr,
    /// The block's pubdata, as settlement sees it (the Noop's record still moves the
    /// commitment, so old and new public values differ).
    pub pubdata: Vec<OpPubdata>,
    /// The state root after it.
    pub new_root: Fr,
    /// The compressed proof.
    pub proof: BlockProof,
}

/// Folds and compresses [`NoopBlock`] under `params` (seconds).
pub fn noop_block(params: &Params) -> NoopBlock {
    let mut state = L2State::new(params.chains.clone());
    let genesis_root = state.root();
    let mut folding = Folding::new(genesis_root, Fr::from(0u64));
    let witness = StepWitness::build(&state, &Op::Noop);
    let applied = state.apply(&Op::Noop).expect("a Noop applies");
    folding.fold(params, witness).expect("folds");
    folding
        .flush(params, StepWitness::build(&state, &Op::Noop))
        .expect("flushes");
    let proof = folding.compress(params).expect("compresses");
    assert_eq!(
        proof.public.new_commitment,
        extend_commitment(Fr::from(0u64), &applied.pubdata),
        "the proof's commitment is the block's"
    );
    NoopBlock {
        genesis_root,
        pubdata: vec![applied.pubdata],
        new_root: state.root(),
        proof,
    }
}
