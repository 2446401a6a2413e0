//! The verifier precompile on an in-memory revm, reached the way the embedded chain reaches
//! it: through the committed `PrecompileVerifier` and `Primary` artifacts.
//!
//! A real proof of a real block (the prover's devnet parameters, shared with the prover's
//! tests under cargo's target tmp dir) is accepted by `Primary.proveBlocks`; a tampered
//! proof, other public values and a verifier pinned to another key are refused with
//! `InvalidProof`; non-canonical inputs sent straight to the precompile answer 0; every
//! call costs exactly `VERIFY_GAS`, and a call with less gas halts out of gas.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolError, SolEvent, SolValue};
use manyfold_contracts::bindings::{Artifact, PrecompileVerifier, Primary};
use manyfold_contracts::settlement::{PrimaryBookkeeping, SettlementBlock, StoredBlock};
use manyfold_contracts::verifier::VerifierInput;
use manyfold_precompile::{
    check, decode, execute, EncodingError, Refusal, VerifierPrecompiles, VERIFIER_PRECOMPILE,
    VERIFY_GAS,
};
use manyfold_prover::testing::{devnet_params, noop_block};
use manyfold_prover::{BlockProof, PinnedVk, VerifyError};
use manyfold_types::block::fr_to_b256;
use manyfold_types::{ChainId, Fr, OpPubdata};
use revm::context::{Context, TxEnv};
use revm::context_interface::result::{ExecutionResult, HaltReason, OutOfGasError, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{EthPrecompiles, PrecompileProvider};
use revm::precompile::{PrecompileSpecId, Precompiles};
use revm::primitives::hardfork::SpecId;
use revm::primitives::TxKind;
use revm::state::AccountInfo;
use revm::{ExecuteCommitEvm, MainBuilder, MainContext};

/// BN254's scalar modulus, big-endian.
const MODULUS: U256 = U256::from_be_bytes([
    0x30, 0x64, 0x4e, 0x72, 0xe1, 0x31, 0xa0, 0x29, 0xb8, 0x50, 0x45, 0xb6, 0x81, 0x81, 0x58, 0x5d,
    0x28, 0x33, 0xe8, 0x48, 0x79, 0xb9, 0x70, 0x91, 0x43, 0xe1, 0xf5, 0x93, 0xf0, 0x00, 0x00, 0x01,
]);

/// Osaka's per-transaction gas cap (EIP-7825), revm's default: every call here fits it.
const TX_GAS: u64 = 1 << 24;

const OPERATOR: Address = Address::repeat_byte(0x0e);

/// A real proof of one block, with the key it verifies under.
struct Fixture {
    vk: Arc<PinnedVk>,
    genesis_root: Fr,
    /// The block as settlement sees it: one Noop (its pubdata record still moves the
    /// commitment, so old and new public values differ).
    ops: Vec<OpPubdata>,
    new_root: Fr,
    proof: BlockProof,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // The prover tests' devnet: same directory, same chain set, so its cached
        // parameters serve both.
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
        let params = devnet_params(&root, 1);
        let block = noop_block(&params);
        let digest = params.vk_digest;
        let vk = Arc::new(PinnedVk::new(params.vk));
        assert_eq!(vk.digest(), digest);
        Fixture {
            vk,
            genesis_root: block.genesis_root,
            ops: block.pubdata,
            new_root: block.new_root,
            proof: block.proof,
        }
    })
}

impl Fixture {
    fn digest(&self) -> B256 {
        B256::from(self.vk.digest())
    }

    /// What `PrecompileVerifier` sends for this proof.
    fn input(&self) -> VerifierInput {
        let p = &self.proof.public;
        VerifierInput {
            vk_digest: self.digest(),
            oldStateRoot: fr_to_b256(&p.old_root),
            oldCommitment: fr_to_b256(&p.old_commitment),
            newStateRoot: fr_to_b256(&p.new_root),
            newCommitment: fr_to_b256(&p.new_commitment),
            steps: p.steps,
            proof: Bytes::from(self.proof.snark.clone()),
        }
    }
}

type Db = CacheDB<EmptyDB>;

/// An in-memory chain with the verifier precompile installed (or not).
struct Chain {
    db: Db,
    vk: Option<Arc<PinnedVk>>,
    nonce: u64,
}

impl Chain {
    fn new(vk: Option<Arc<PinnedVk>>) -> Self {
        let mut db = Db::default();
        db.insert_account_info(
            OPERATOR,
            AccountInfo {
                balance: U256::from(10u64).pow(U256::from(24u64)),
                ..Default::default()
            },
        );
        Self { db, vk, nonce: 0 }
    }

    fn transact(&mut self, kind: TxKind, data: Vec<u8>, gas_limit: u64) -> ExecutionResult {
        let tx = TxEnv::builder()
            .caller(OPERATOR)
            .kind(kind)
            .data(data.into())
            .gas_limit(gas_limit)
            .nonce(self.nonce)
            .build()
            .unwrap();
        let ctx = Context::mainnet().with_db(&mut self.db);
        let result = match &self.vk {
            Some(vk) => ctx
                .build_mainnet()
                .with_precompiles(VerifierPrecompiles::new(SpecId::default(), vk.clone()))
                .transact_commit(tx),
            None => ctx.build_mainnet().transact_commit(tx),
        }
        .unwrap();
        self.nonce += 1;
        result
    }

    fn deploy(&mut self, artifact: Artifact, args: Vec<u8>) -> Address {
        let mut code = artifact.bytecode().to_vec();
        code.extend(args);
        match self.transact(TxKind::Create, code, TX_GAS) {
            ExecutionResult::Success {
                output: Output::Create(_, Some(address)),
                ..
            } => address,
            other => panic!("deploying {artifact:?}: {other:?}"),
        }
    }

    fn call(&mut self, to: Address, data: Vec<u8>) -> ExecutionResult {
        self.transact(TxKind::Call(to), data, TX_GAS)
    }

    /// PoseidonT5, a `PrecompileVerifier` pinned to `digest`, and a one-chain Primary
    /// whose genesis is the fixture's.
    fn deploy_settlement(&mut self, digest: B256) -> Address {
        let poseidon = self.deploy(Artifact::PoseidonT5, vec![]);
        let verifier = self.deploy(Artifact::PrecompileVerifier, (digest,).abi_encode_params());
        let config = Primary::SettlementConfig {
            chainId: 0,
            governor: OPERATOR,
            operator: OPERATOR,
            priorityExpiry: 86_400,
            attestationDomain: B256::repeat_byte(0xd0),
            validators: vec![Address::repeat_byte(0x0a)],
            threshold: U256::from(1u64),
            genesisStateRoot: fr_to_b256(&fixture().genesis_root),
            governanceDelay: 86_400,
            priorityFee: U256::ZERO,
            maxOpenPriorityRequests: 64,
        };
        let args = (config, 1u16, verifier, poseidon, B256::ZERO).abi_encode_params();
        self.deploy(Artifact::Primary, args)
    }
}

fn books() -> PrimaryBookkeeping {
    PrimaryBookkeeping::genesis(
        ChainId::new(0).unwrap(),
        1,
        fixture().genesis_root,
        Fr::from(0u64),
    )
}

/// Commits the fixture's block, claiming `state_root` after it; returns (genesis, block 1)
/// as the primary stores them.
fn commit(chain: &mut Chain, primary: Address, state_root: Fr) -> (StoredBlock, StoredBlock) {
    let fixture = fixture();
    let mut books = books();
    let commit = books
        .commit(&SettlementBlock {
            number: 1,
            timestamp: 1_700_000_001,
            state_root,
            ops: &fixture.ops,
            change_pubkey_signatures: &[],
        })
        .unwrap();
    let call = Primary::commitBlocksCall {
        last: commit.previous.into(),
        lastSyncHashes: commit.previous_sync_hashes.clone(),
        blocks: vec![commit.block.clone()],
    };
    let result = chain.call(primary, call.abi_encode());
    assert!(result.is_success(), "commitBlocks: {result:?}");
    (commit.previous, commit.stored)
}

fn prove(
    chain: &mut Chain,
    primary: Address,
    blocks: (StoredBlock, StoredBlock),
    steps: u64,
    proof: Vec<u8>,
) -> ExecutionResult {
    let call = Primary::proveBlocksCall {
        lastProven: blocks.0.into(),
        to: blocks.1.into(),
        steps,
        proof: proof.into(),
    };
    chain.call(primary, call.abi_encode())
}

fn total_blocks_proven(chain: &mut Chain, primary: Address) -> u32 {
    match chain.call(primary, Primary::totalBlocksProvenCall {}.abi_encode()) {
        ExecutionResult::Success { output, .. } => {
            Primary::totalBlocksProvenCall::abi_decode_returns(output.data()).unwrap()
        }
        other => panic!("totalBlocksProven: {other:?}"),
    }
}

#[track_caller]
fn assert_invalid_proof(result: &ExecutionResult) {
    match result {
        ExecutionResult::Revert { output, .. } => {
            assert_eq!(
                output.get(..4),
                Some(&Primary::InvalidProof::SELECTOR[..]),
                "{output}"
            );
        }
        other => panic!("expected InvalidProof, got {other:?}"),
    }
}

#[test]
fn primary_accepts_the_real_proof_and_refuses_a_tampered_one_or_other_steps() {
    let fixture = fixture();
    let proof = &fixture.proof;
    let mut chain = Chain::new(Some(fixture.vk.clone()));
    let primary = chain.deploy_settlement(fixture.digest());
    let blocks = commit(&mut chain, primary, fixture.new_root);

    let mut tampered = proof.snark.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert_invalid_proof(&prove(
        &mut chain,
        primary,
        blocks,
        proof.public.steps,
        tampered,
    ));
    assert_invalid_proof(&prove(
        &mut chain,
        primary,
        blocks,
        proof.public.steps + 1,
        proof.snark.clone(),
    ));
    assert_eq!(total_blocks_proven(&mut chain, primary), 0);

    let accepted = prove(
        &mut chain,
        primary,
        blocks,
        proof.public.steps,
        proof.snark.clone(),
    );
    let ExecutionResult::Success { logs, .. } = &accepted else {
        panic!("proveBlocks with the real proof: {accepted:?}");
    };
    assert!(
        accepted.tx_gas_used() > VERIFY_GAS,
        "the precompile's price is paid"
    );
    println!(
        "proveBlocks with a {}-byte proof: {} gas (VERIFY_GAS {VERIFY_GAS})",
        proof.snark.len(),
        accepted.tx_gas_used()
    );
    assert!(logs
        .iter()
        .any(|log| log.topics().first()
            == Some(&<Primary::BlocksProven as SolEvent>::SIGNATURE_HASH)));
    assert_eq!(total_blocks_proven(&mut chain, primary), 1);
}

#[test]
fn primary_refuses_the_proof_for_other_public_values() {
    let fixture = fixture();
    let mut chain = Chain::new(Some(fixture.vk.clone()));
    let primary = chain.deploy_settlement(fixture.digest());
    // The operator commits the block with another state root than the proof reaches.
    let blocks = commit(&mut chain, primary, fixture.new_root + Fr::from(1u64));
    assert_invalid_proof(&prove(
        &mut chain,
        primary,
        blocks,
        fixture.proof.public.steps,
        fixture.proof.snark.clone(),
    ));
    assert_eq!(total_blocks_proven(&mut chain, primary), 0);
}

#[test]
fn a_verifier_pinned_to_another_key_refuses_the_real_proof() {
    let fixture = fixture();
    let mut chain = Chain::new(Some(fixture.vk.clone()));
    let mut other = fixture.digest();
    other.0[31] ^= 1;
    let primary = chain.deploy_settlement(other);
    let blocks = commit(&mut chain, primary, fixture.new_root);
    assert_invalid_proof(&prove(
        &mut chain,
        primary,
        blocks,
        fixture.proof.public.steps,
        fixture.proof.snark.clone(),
    ));
}

#[test]
fn without_the_precompile_nothing_is_proven() {
    let fixture = fixture();
    let mut chain = Chain::new(None);
    let primary = chain.deploy_settlement(fixture.digest());
    let blocks = commit(&mut chain, primary, fixture.new_root);
    assert_invalid_proof(&prove(
        &mut chain,
        primary,
        blocks,
        fixture.proof.public.steps,
        fixture.proof.snark.clone(),
    ));
}

/// The verifier contract's own answer, through the EVM.
#[test]
fn precompile_verifier_answers_through_the_evm() {
    let fixture = fixture();
    let mut chain = Chain::new(Some(fixture.vk.clone()));
    let verifier = chain.deploy(
        Artifact::PrecompileVerifier,
        (fixture.digest(),).abi_encode_params(),
    );
    let p = &fixture.proof.public;
    let values = |new_commitment: Fr| PrecompileVerifier::ProofPublicValues {
        oldStateRoot: fr_to_b256(&p.old_root),
        oldCommitment: fr_to_b256(&p.old_commitment),
        newStateRoot: fr_to_b256(&p.new_root),
        newCommitment: fr_to_b256(&new_commitment),
        steps: p.steps,
    };
    let mut verify = |values, proof: &[u8]| -> bool {
        let call = PrecompileVerifier::verifyCall {
            values,
            proof: Bytes::copy_from_slice(proof),
        };
        match chain.call(verifier, call.abi_encode()) {
            ExecutionResult::Success { output, .. } => {
                PrecompileVerifier::verifyCall::abi_decode_returns(output.data()).unwrap()
            }
            other => panic!("verify: {other:?}"),
        }
    };
    assert!(verify(values(p.new_commitment), &fixture.proof.snark));
    assert!(!verify(
        values(p.new_commitment + Fr::from(1u64)),
        &fixture.proof.snark
    ));
    assert!(!verify(values(p.new_commitment), b"not a proof"));
}

fn word(x: U256) -> [u8; 32] {
    x.to_be_bytes()
}

/// Calls the precompile directly (a transaction to its address) with `gas` for the call
/// itself on top of the intrinsic cost.
fn call_precompile(chain: &mut Chain, input: &[u8], gas: u64) -> ExecutionResult {
    let intrinsic = 21_000
        + input
            .iter()
            .map(|b| if *b == 0 { 4 } else { 16 })
            .sum::<u64>();
    chain.transact(
        TxKind::Call(VERIFIER_PRECOMPILE),
        input.to_vec(),
        intrinsic + gas,
    )
}

/// Answers 1 or 0 with exactly `VERIFY_GAS` (asserted), or panics.
#[track_caller]
fn answer(chain: &mut Chain, input: &[u8]) -> bool {
    let intrinsic = 21_000
        + input
            .iter()
            .map(|b| if *b == 0 { 4 } else { 16 })
            .sum::<u64>();
    let result = call_precompile(chain, input, VERIFY_GAS + 1_000);
    match &result {
        ExecutionResult::Success { output, .. } => {
            assert_eq!(
                result.tx_gas_used(),
                intrinsic + VERIFY_GAS,
                "the documented price"
            );
            assert_eq!(output.data().len(), 32);
            let answer = U256::from_be_slice(output.data());
            assert!(answer <= U256::from(1u64));
            answer == U256::from(1u64)
        }
        other => panic!("the precompile must answer a word: {other:?}"),
    }
}

#[test]
fn the_precompile_charges_the_documented_gas_and_refuses_less() {
    let fixture = fixture();
    let mut chain = Chain::new(Some(fixture.vk.clone()));
    let input = fixture.input().encode();
    assert!(answer(&mut chain, &input), "the real proof");
    assert!(!answer(&mut chain, b"short"), "a refusal costs the same");

    // One gas short of the price: out of gas, all gas consumed, nothing answered.
    match call_precompile(&mut chain, &input, VERIFY_GAS - 1) {
        ExecutionResult::Halt { reason, .. } => {
            assert_eq!(reason, HaltReason::OutOfGas(OutOfGasError::Precompile));
        }
        other => panic!("expected an out-of-gas halt: {other:?}"),
    }
    // And at the library level: no work is done below the price.
    let out = execute(&fixture.vk, &input, VERIFY_GAS - 1, 0);
    assert!(out.is_halt());
    let out = execute(&fixture.vk, &input, VERIFY_GAS, 0);
    assert!(out.is_success());
    assert_eq!(out.gas_used, VERIFY_GAS);
    assert_eq!(U256::from_be_slice(&out.bytes), U256::from(1u64));
}

#[test]
fn a_wrong_digest_or_wrong_values_answer_zero() {
    let fixture = fixture();
    let mut chain = Chain::new(Some(fixture.vk.clone()));

    let mut input = fixture.input();
    input.vk_digest.0[0] ^= 1;
    assert!(!answer(&mut chain, &input.encode()));
    assert!(matches!(
        check(&fixture.vk, &input.encode()),
        Err(Refusal::Proof(VerifyError::UnknownKey { .. }))
    ));

    let mut input = fixture.input();
    input.newStateRoot = fr_to_b256(&(fixture.proof.public.new_root + Fr::from(1u64)));
    assert!(!answer(&mut chain, &input.encode()));

    let mut input = fixture.input();
    input.oldCommitment = fr_to_b256(&(fixture.proof.public.old_commitment + Fr::from(1u64)));
    assert!(!answer(&mut chain, &input.encode()));
    assert!(matches!(
        check(&fixture.vk, &input.encode()),
        Err(Refusal::Proof(_))
    ));
}

#[test]
fn non_canonical_encodings_answer_zero() {
    let fixture = fixture();
    let mut chain = Chain::new(Some(fixture.vk.clone()));
    let canonical = fixture.input().encode();
    assert!(answer(&mut chain, &canonical));
    assert_eq!(decode(&canonical).unwrap().public, fixture.proof.public);

    let mut cases: Vec<(&str, Vec<u8>)> = vec![];
    // Each field word (roots and commitments, words 1 to 4) at the modulus, and the same
    // field element plus the modulus (which a reducing decoder would accept as the
    // real value).
    for w in 1..=4 {
        let value = U256::from_be_slice(&canonical[32 * w..32 * (w + 1)]);
        for replacement in [MODULUS, value + MODULUS, U256::MAX] {
            let mut bytes = canonical.clone();
            bytes[32 * w..32 * (w + 1)].copy_from_slice(&word(replacement));
            cases.push(("field word not below the modulus", bytes));
        }
    }
    // The proof's offset moved one word on, with a zero word inserted: the same values
    // to a lax decoder.
    let mut bytes = canonical[..32 * 6].to_vec();
    bytes.extend(word(U256::from(0x100u64)));
    bytes.extend([0u8; 32]);
    bytes.extend(&canonical[32 * 7..]);
    cases.push(("offset 0x100", bytes));
    let mut bytes = canonical.clone();
    bytes[32 * 6..32 * 7].copy_from_slice(&word(U256::from(0xc0u64)));
    cases.push(("offset 0xc0", bytes));
    // The length word one short, one long.
    let len = fixture.proof.snark.len() as u64;
    for l in [len - 1, len + 1] {
        let mut bytes = canonical.clone();
        bytes[32 * 7..32 * 8].copy_from_slice(&word(U256::from(l)));
        cases.push(("length word", bytes));
    }
    // Nonzero padding after a proof that is not a whole number of words (the real one,
    // 13,056 bytes, is; one byte shorter is canonical, and refused as a proof).
    let mut shorter = fixture.input();
    shorter.proof = Bytes::copy_from_slice(&fixture.proof.snark[..fixture.proof.snark.len() - 1]);
    let mut bytes = shorter.encode();
    assert!(matches!(
        check(&fixture.vk, &bytes),
        Err(Refusal::Proof(VerifyError::Malformed(_)))
    ));
    *bytes.last_mut().unwrap() = 1;
    cases.push(("nonzero padding", bytes));
    // Trailing bytes, a short input, no input, steps with high bytes set.
    let mut bytes = canonical.clone();
    bytes.extend([0u8; 32]);
    cases.push(("trailing word", bytes));
    cases.push(("short", canonical[..canonical.len() - 1].to_vec()));
    cases.push(("head only", canonical[..32 * 7].to_vec()));
    cases.push(("empty", vec![]));
    let mut bytes = canonical.clone();
    bytes[32 * 5] = 1;
    cases.push(("steps above u64", bytes));

    for (what, bytes) in &cases {
        assert!(!answer(&mut chain, bytes), "{what}");
        assert!(
            matches!(check(&fixture.vk, bytes), Err(Refusal::Encoding(_))),
            "{what}: {:?}",
            check(&fixture.vk, bytes)
        );
    }
    let mut bytes = canonical.clone();
    bytes[32..64].copy_from_slice(&word(MODULUS));
    assert_eq!(
        decode(&bytes),
        Err(EncodingError::NotAFieldElement("oldStateRoot"))
    );
}

#[test]
fn other_addresses_are_ethereums_precompiles() {
    let fixture = fixture();
    let provider = VerifierPrecompiles::new(SpecId::default(), fixture.vk.clone());
    type Ctx = revm::handler::MainnetContext<Db>;
    let warm = <VerifierPrecompiles as PrecompileProvider<Ctx>>::warm_addresses(&provider);
    assert!(warm.contains(&VERIFIER_PRECOMPILE));
    let sha256 = Address::with_last_byte(2);
    assert!(warm.contains(&sha256));
    assert!(<VerifierPrecompiles as PrecompileProvider<Ctx>>::contains(
        &provider, &sha256
    ));

    // Wrapping a chain's own set: its addresses join at the first `set_spec`.
    let mut wrapped =
        VerifierPrecompiles::wrap(EthPrecompiles::new(SpecId::default()), fixture.vk.clone());
    let warm = <VerifierPrecompiles as PrecompileProvider<Ctx>>::warm_addresses(&wrapped);
    assert!(warm.contains(&VERIFIER_PRECOMPILE) && !warm.contains(&sha256));
    assert!(<VerifierPrecompiles as PrecompileProvider<Ctx>>::set_spec(
        &mut wrapped,
        SpecId::default()
    ));
    let warm = <VerifierPrecompiles as PrecompileProvider<Ctx>>::warm_addresses(&wrapped);
    assert!(warm.contains(&VERIFIER_PRECOMPILE) && warm.contains(&sha256));
    assert!(!<VerifierPrecompiles as PrecompileProvider<Ctx>>::set_spec(
        &mut wrapped,
        SpecId::default()
    ));

    // sha256("") through the installed set.
    let mut chain = Chain::new(Some(fixture.vk.clone()));
    match chain.call(sha256, vec![]) {
        ExecutionResult::Success { output, .. } => assert_eq!(
            output.data()[..4],
            [0xe3, 0xb0, 0xc4, 0x42],
            "sha256 of nothing"
        ),
        other => panic!("{other:?}"),
    }
}

/// Times `f` `runs` times: (first, median).
fn timed(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    let first = times[0];
    times.sort();
    (first, times[runs / 2])
}

/// The measurement behind `VERIFY_GAS` (see the README): native verification priced at
/// the rate ecPairing's gas buys on the same machine. A measurement, so not run by default:
/// `cargo test -p manyfold-precompile --test precompile -- --ignored --nocapture`.
#[test]
#[ignore = "a timing measurement; run explicitly"]
fn gas_is_priced_at_ec_pairing_rate() {
    use halo2curves::bn256::{G1Affine, G2Affine};
    use halo2curves::ff::PrimeField;

    let fixture = fixture();
    let input = fixture.input().encode();
    let (first, verify) = timed(7, || assert!(check(&fixture.vk, &input).is_ok()));

    // e(G1, G2) · e(−G1, G2) = 1: ecPairing with two pairs, 113,000 gas since EIP-1108.
    let be = |repr: &[u8]| {
        let mut bytes = repr.to_vec();
        bytes.reverse();
        bytes
    };
    let g1 = G1Affine::generator();
    let g2 = G2Affine::generator();
    let mut pairing = vec![];
    for p in [g1, -g1] {
        pairing.extend(be(p.x.to_repr().as_ref()));
        pairing.extend(be(p.y.to_repr().as_ref()));
        // EIP-197 encodes an Fq2 element as (imaginary, real).
        pairing.extend(be(g2.x.c1().to_repr().as_ref()));
        pairing.extend(be(g2.x.c0().to_repr().as_ref()));
        pairing.extend(be(g2.y.c1().to_repr().as_ref()));
        pairing.extend(be(g2.y.c0().to_repr().as_ref()));
    }
    let precompiles = Precompiles::new(PrecompileSpecId::from_spec_id(SpecId::default()));
    let ec_pairing = precompiles.get(&Address::with_last_byte(8)).unwrap();
    let out = ec_pairing.execute(&pairing, u64::MAX, 0).unwrap();
    assert!(out.is_success());
    assert_eq!(U256::from_be_slice(&out.bytes), U256::from(1u64));
    let pairing_gas = out.gas_used;
    let (_, pairing_time) = timed(51, || {
        ec_pairing.execute(&pairing, u64::MAX, 0).unwrap();
    });

    let gas_per_second = pairing_gas as f64 / pairing_time.as_secs_f64();
    let priced = verify.as_secs_f64() * gas_per_second;
    println!(
        "verification {verify:?} (first {first:?}); ecPairing (2 pairs) {pairing_gas} gas in {pairing_time:?}: \
         {:.1} Mgas/s; verification at that rate: {:.2} Mgas; VERIFY_GAS {:.2} Mgas \
         ({:.2}x)",
        gas_per_second / 1e6,
        priced / 1e6,
        VERIFY_GAS as f64 / 1e6,
        VERIFY_GAS as f64 / priced,
    );
    assert!(
        VERIFY_GAS as f64 >= priced,
        "VERIFY_GAS underprices verification here"
    );
}
