//! Real Nova proofs of real ops: a fold of deposits, a key registration and transfers
//! compresses into a SNARK that verifies against the native roots and commitment, and is
//! rejected when tampered with or presented with other public values. Parameters are set
//! up once (insecure devnet powers of tau) and then come from the cache.

use std::time::Instant;

use manyfold_circuits::StepWitness;
use manyfold_prover::params::load_or_setup;
use manyfold_prover::{verify, Folding, PtauSource, VerifyError};
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::L2State;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::Fr;

#[test]
fn folded_ops_compress_into_a_proof_that_verifies_only_as_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let ptau = PtauSource::InsecureDevnet(dir.path().join("ptau"));
    let started = Instant::now();
    let params = load_or_setup(&dir.path().join("params"), &ptau).unwrap();
    let setup = started.elapsed();

    let mut scenario = Scenario::new(2, 1, 1);
    let mut state = L2State::new();
    let mut commitment = Fr::from(0u64);
    let mut folding = Folding::new(state.root(), commitment);
    let actions = [
        Action::Deposit {
            user: 0,
            chain: 0,
            token: 0,
            amount: 1_000,
        },
        Action::Deposit {
            user: 1,
            chain: 0,
            token: 0,
            amount: 5,
        },
        Action::ChangePubKey { user: 0, chain: 0 },
        Action::Transfer {
            from: 0,
            to: 1,
            token: 0,
            percent: 30,
        },
        Action::Transfer {
            from: 0,
            to: 1,
            token: 0,
            percent: 10,
        },
    ];
    for action in actions {
        let op = scenario.op(&state, action).unwrap();
        let witness = StepWitness::build(&state, &op);
        let applied = state.apply(&op).unwrap();
        commitment = extend_commitment(commitment, &applied.pubdata);
        folding.fold(&params, witness).unwrap();
    }
    assert!(matches!(
        folding.compress(&params),
        Err(manyfold_prover::ProveError::Unflushed(1))
    ));
    folding
        .flush(
            &params,
            StepWitness::build(&state, &manyfold_types::Op::Noop),
        )
        .unwrap();
    assert_eq!(folding.current(), [state.root(), commitment]);
    let proof = folding.compress(&params).unwrap();
    assert_eq!(proof.public.new_root, state.root());
    assert_eq!(proof.public.new_commitment, commitment);
    assert_eq!(
        proof.public.steps, 2,
        "five ops: one full step of four, one of one"
    );
    verify(&params.vk, &proof.snark, &proof.public).unwrap();

    let mut claimed = proof.public;
    claimed.new_root += Fr::from(1u64);
    assert_eq!(
        verify(&params.vk, &proof.snark, &claimed),
        Err(VerifyError::WrongOutputs)
    );
    let mut claimed = proof.public;
    claimed.old_commitment += Fr::from(1u64);
    assert!(verify(&params.vk, &proof.snark, &claimed).is_err());
    let mut claimed = proof.public;
    claimed.steps = 1;
    assert!(verify(&params.vk, &proof.snark, &claimed).is_err());
    let mut tampered = proof.snark.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert!(verify(&params.vk, &tampered, &proof.public).is_err());
    assert!(verify(
        &params.vk,
        &proof.snark[..proof.snark.len() - 1],
        &proof.public
    )
    .is_err());

    // The second start finds the cache.
    let started = Instant::now();
    let cached = load_or_setup(&dir.path().join("params"), &ptau).unwrap();
    assert_eq!(cached.shape_digest, params.shape_digest);
    verify(&cached.vk, &proof.snark, &proof.public).unwrap();
    println!(
        "setup {setup:?}, cached load {:?}, constraints {:?}, proof {} bytes",
        started.elapsed(),
        params.constraints(),
        proof.snark.len()
    );
}
