//! Proving figures: constraints per op type, folding time per step, compression time,
//! proof size, verification time and peak memory. Prints its figures; record them in
//! docs/benchmarks.md.
//!
//! `cargo bench -p manyfold-prover --bench proving [-- TRANSFERS]`

#![allow(missing_docs)]

use std::time::Instant;

use manyfold_circuits::StepWitness;
use manyfold_prover::params::load_or_setup;
use manyfold_prover::{verify, Folding, PtauSource};
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::L2State;
use manyfold_types::Fr;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let transfers: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(32);
    let cache =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/manyfold-bench-params");
    let started = Instant::now();
    let params = load_or_setup(
        &cache.join("params"),
        &PtauSource::InsecureDevnet(cache.join("ptau")),
        &manyfold_types::ChainSet::local(1),
    )
    .unwrap();
    println!(
        "parameters: {:.1} s (set up once, then loaded from the cache)",
        started.elapsed().as_secs_f64()
    );
    let (step, augmented) = params.constraints();
    println!(
        "constraints per step of {} ops, every type alike: {step} in the step circuit ({} per op), {augmented} with Nova's augmentation",
        manyfold_circuits::OPS_PER_STEP,
        step / manyfold_circuits::OPS_PER_STEP
    );

    // Users with balances and keys, then a stream of transfers between them.
    let mut scenario = Scenario::new(8, 1, 1);
    let mut state = L2State::new(manyfold_types::ChainSet::local(1));
    for user in 0..8 {
        for action in [
            Action::Deposit {
                user,
                chain: 0,
                token: 0,
                amount: 1 << 60,
            },
            Action::ChangePubKey { user, chain: 0 },
        ] {
            let op = scenario.op(&state, action).unwrap();
            state.apply(&op).unwrap();
        }
    }
    let first_root = state.root();
    let mut witnesses = Vec::new();
    for i in 0..transfers {
        let op = scenario
            .op(
                &state,
                Action::Transfer {
                    from: i % 8,
                    to: (i + 1) % 8,
                    token: 0,
                    percent: 1,
                },
            )
            .unwrap();
        witnesses.push(StepWitness::build(&state, &op));
        state.apply(&op).unwrap();
    }
    let mut folding = Folding::new(first_root, Fr::from(0u64));
    let fold_started = Instant::now();
    for witness in witnesses {
        folding.fold(&params, witness).unwrap();
    }
    folding
        .flush(
            &params,
            StepWitness::build(&state, &manyfold_types::Op::Noop),
        )
        .unwrap();
    folding
        .flush(
            &params,
            StepWitness::build(&state, &manyfold_types::Op::Noop),
        )
        .unwrap();
    let fold = fold_started.elapsed();
    let compress_started = Instant::now();
    let proof = folding.compress(&params).unwrap();
    let compress = compress_started.elapsed();
    let verify_started = Instant::now();
    verify(&params.vk, &proof.snark, &proof.public).unwrap();
    let verify_time = verify_started.elapsed();
    assert_eq!(proof.public.new_root, state.root());

    println!(
        "folded {transfers} transfers in {} steps of {} ops: {:.0} ms per step, {:.0} ms per transfer",
        folding.steps(),
        manyfold_circuits::OPS_PER_STEP,
        fold.as_secs_f64() * 1000.0 / folding.steps() as f64,
        fold.as_secs_f64() * 1000.0 / transfers as f64
    );
    println!("compression: {:.2} s", compress.as_secs_f64());
    println!("proof size: {} bytes", proof.snark.len());
    println!("verification: {:.0} ms", verify_time.as_secs_f64() * 1000.0);
    println!(
        "throughput: {:.2} proven transfers/s (folding and one compression)",
        transfers as f64 / (fold + compress).as_secs_f64()
    );
    println!("peak memory: {:.0} MiB", peak_rss_mib());
}
