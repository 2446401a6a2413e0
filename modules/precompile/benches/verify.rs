//! The verifier precompile's price against its time: one real compressed proof verified
//! (a) by `check` and `execute` called directly and (b) through `PrecompileVerifier.verify`
//! on revm with the precompile installed; min / median / max over the runs, the gas
//! charged, and the gas/s that implies. Prints its figures; record them in
//! docs/benchmarks.md.
//!
//! `cargo bench -p manyfold-precompile --bench verify [-- RUNS]` (default 10)

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolValue};
use manyfold_contracts::bindings::{Artifact, PrecompileVerifier};
use manyfold_contracts::verifier::VerifierInput;
use manyfold_precompile::{check, execute, VerifierPrecompiles, VERIFY_GAS};
use manyfold_prover::testing::{devnet_params, noop_block};
use manyfold_prover::PinnedVk;
use manyfold_types::block::fr_to_b256;
use revm::context::{Context, TxEnv};
use revm::context_interface::result::{ExecutionResult, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::hardfork::SpecId;
use revm::primitives::TxKind;
use revm::state::AccountInfo;
use revm::{ExecuteCommitEvm, MainBuilder, MainContext};

const CALLER: Address = Address::repeat_byte(0x0e);
/// Osaka's per-transaction gas cap (EIP-7825), revm's default.
const TX_GAS: u64 = 1 << 24;

fn stats(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2], times[times.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(what: &str, times: Vec<Duration>, gas: u64) {
    let (min, median, max) = stats(times);
    println!(
        "| {what} | {:.1} | {:.1} | {:.1} | {gas} | {:.1} |",
        ms(min),
        ms(median),
        ms(max),
        gas as f64 / median.as_secs_f64() / 1e6
    );
}

struct Chain {
    db: CacheDB<EmptyDB>,
    vk: Arc<PinnedVk>,
    nonce: u64,
}

impl Chain {
    fn transact(&mut self, kind: TxKind, data: Vec<u8>) -> ExecutionResult {
        let tx = TxEnv::builder()
            .caller(CALLER)
            .kind(kind)
            .data(data.into())
            .gas_limit(TX_GAS)
            .nonce(self.nonce)
            .build()
            .unwrap();
        let result = Context::mainnet()
            .with_db(&mut self.db)
            .build_mainnet()
            .with_precompiles(VerifierPrecompiles::new(SpecId::default(), self.vk.clone()))
            .transact_commit(tx)
            .unwrap();
        self.nonce += 1;
        result
    }
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());

    // The prover bench's cached parameters (same directory, same chain set).
    let cache =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/manyfold-bench-params");
    let started = Instant::now();
    let params = devnet_params(&cache, 1);
    println!(
        "parameters: {:.1} s (set up once, then loaded from the cache)",
        started.elapsed().as_secs_f64()
    );

    // A real proof of a one-Noop block: a compressed proof has the same size and costs the
    // same to verify whatever the range it covers.
    let started = Instant::now();
    let proof = noop_block(&params).proof;
    println!(
        "proof ({} steps), {} bytes: folded and compressed in {:.1} s",
        proof.public.steps,
        proof.snark.len(),
        started.elapsed().as_secs_f64()
    );
    let digest = B256::from(params.vk_digest);
    let vk = Arc::new(PinnedVk::new(params.vk));
    let p = &proof.public;
    let input = VerifierInput {
        vk_digest: digest,
        oldStateRoot: fr_to_b256(&p.old_root),
        oldCommitment: fr_to_b256(&p.old_commitment),
        newStateRoot: fr_to_b256(&p.new_root),
        newCommitment: fr_to_b256(&p.new_commitment),
        steps: p.steps,
        proof: Bytes::from(proof.snark.clone()),
    }
    .encode();

    // (a) Directly: `check` (decode and verify), then `execute` (what the EVM calls).
    let first = Instant::now();
    check(&vk, &input).unwrap();
    let first = first.elapsed();
    let check_times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            check(&vk, &input).unwrap();
            started.elapsed()
        })
        .collect();
    let mut charged = 0;
    let execute_times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let out = execute(&vk, &input, VERIFY_GAS, 0);
            let elapsed = started.elapsed();
            assert!(out.is_success());
            assert_eq!(U256::from_be_slice(&out.bytes), U256::from(1u64));
            charged = out.gas_used;
            elapsed
        })
        .collect();
    assert_eq!(charged, VERIFY_GAS);

    // (b) Through the EVM: a deployed `PrecompileVerifier` pinned to the key's digest.
    let mut db = CacheDB::<EmptyDB>::default();
    db.insert_account_info(
        CALLER,
        AccountInfo {
            balance: U256::from(10u64).pow(U256::from(24u64)),
            ..Default::default()
        },
    );
    let mut chain = Chain { db, vk, nonce: 0 };
    let mut code = Artifact::PrecompileVerifier.bytecode().to_vec();
    code.extend((digest,).abi_encode_params());
    let verifier = match chain.transact(TxKind::Create, code) {
        ExecutionResult::Success {
            output: Output::Create(_, Some(address)),
            ..
        } => address,
        other => panic!("deploying PrecompileVerifier: {other:?}"),
    };
    let call = PrecompileVerifier::verifyCall {
        values: PrecompileVerifier::ProofPublicValues {
            oldStateRoot: fr_to_b256(&p.old_root),
            oldCommitment: fr_to_b256(&p.old_commitment),
            newStateRoot: fr_to_b256(&p.new_root),
            newCommitment: fr_to_b256(&p.new_commitment),
            steps: p.steps,
        },
        proof: Bytes::from(proof.snark.clone()),
    }
    .abi_encode();
    let mut tx_gas = 0;
    let evm_times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let result = chain.transact(TxKind::Call(verifier), call.clone());
            let elapsed = started.elapsed();
            match &result {
                ExecutionResult::Success { output, .. } => {
                    assert!(
                        PrecompileVerifier::verifyCall::abi_decode_returns(output.data()).unwrap()
                    );
                }
                other => panic!("verify: {other:?}"),
            }
            tx_gas = result.tx_gas_used();
            elapsed
        })
        .collect();

    println!(
        "{runs} runs each, threads: {threads} (RAYON_NUM_THREADS), first check {:.1} ms",
        ms(first)
    );
    println!("| measured | min ms | median ms | max ms | gas | Mgas/s at the median |");
    println!("|---|---|---|---|---|---|");
    row("`check` (decode + verify)", check_times, VERIFY_GAS);
    row("`execute` (the precompile)", execute_times, charged);
    row(
        "`PrecompileVerifier.verify` transaction on revm",
        evm_times,
        tx_gas,
    );
    println!(
        "gas charged by the precompile: {charged} (VERIFY_GAS {VERIFY_GAS}); the verify transaction: {tx_gas} \
         ({} on top: intrinsic, calldata, the contract)",
        tx_gas - charged
    );
}
