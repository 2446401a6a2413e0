//! The verifier precompile as the embedded chain installs it: a `PrecompileVerifier`
//! deployed by a transaction on the chain answers `verify` for a real proof from the prover
//! (true), a tampered one and one under another key's digest (false), and a transaction
//! that verifies pays the documented gas. Without a verifying key the chain has no
//! precompile, and does not claim to verify proofs.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_sol_types::{SolCall, SolValue};
use common::*;
use manyfold_chain::{BlockId, BlockTag, CallRequest, Chain};
use manyfold_chain_embedded::{EmbeddedChain, EmbeddedConfig};
use manyfold_contracts::bindings::{Artifact, PrecompileVerifier};
use manyfold_precompile::VERIFY_GAS;
use manyfold_prover::testing::{devnet_params, noop_block};
use manyfold_prover::{BlockProof, PinnedVk};
use manyfold_storage::MemoryStorage;
use manyfold_types::block::fr_to_b256;

const CHAIN_ID: u64 = 31_337;

/// A real proof of one Noop block, and the key it verifies under.
fn fixture() -> &'static (Arc<PinnedVk>, BlockProof) {
    static FIXTURE: OnceLock<(Arc<PinnedVk>, BlockProof)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // The prover tests' devnet parameters, cached under cargo's target tmp dir.
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
        let params = devnet_params(&root, 1);
        let proof = noop_block(&params).proof;
        (Arc::new(PinnedVk::new(params.vk)), proof)
    })
}

/// `verify(values, proof)`: the verifier adds its pinned digest itself.
fn verify_call(proof: &BlockProof) -> Vec<u8> {
    let p = &proof.public;
    PrecompileVerifier::verifyCall {
        values: PrecompileVerifier::ProofPublicValues {
            oldStateRoot: fr_to_b256(&p.old_root),
            oldCommitment: fr_to_b256(&p.old_commitment),
            newStateRoot: fr_to_b256(&p.new_root),
            newCommitment: fr_to_b256(&p.new_commitment),
            steps: p.steps,
        },
        proof: Bytes::from(proof.snark.clone()),
    }
    .abi_encode()
}

/// Deploys a `PrecompileVerifier` pinned to `digest` by a transaction; returns it.
fn deploy_verifier(chain: &EmbeddedChain, digest: B256) -> Address {
    let dev = chain.dev_accounts()[0].clone();
    let nonce = chain.pending_nonce(dev.address);
    let mut code = Artifact::PrecompileVerifier.bytecode().to_vec();
    code.extend((digest,).abi_encode_params());
    let tx = eip1559(
        &dev,
        CHAIN_ID,
        nonce,
        TxKind::Create,
        U256::ZERO,
        code.into(),
        2_000_000,
    );
    let hash = chain.send_raw(&tx).unwrap();
    let receipt = chain.receipt(hash).unwrap().expect("instant mode mines it");
    assert!(receipt.success);
    receipt.contract_address.unwrap()
}

async fn answers(chain: &EmbeddedChain, verifier: Address, input: Vec<u8>) -> bool {
    let out = manyfold_chain::ChainReader::call(
        chain,
        CallRequest::new(verifier, input),
        BlockId::Tag(BlockTag::Latest),
    )
    .await
    .unwrap();
    PrecompileVerifier::verifyCall::abi_decode_returns(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_chain_verifies_real_proofs_through_the_deployed_verifier() {
    let (vk, proof) = fixture();
    let digest = B256::from(vk.digest());
    let chain = EmbeddedChain::open(
        Arc::new(MemoryStorage::new()),
        EmbeddedConfig::new(CHAIN_ID).with_verifier(vk.clone()),
    )
    .unwrap();
    assert!(chain.capabilities().verifies_proofs);
    let verifier = deploy_verifier(&chain, digest);

    assert!(answers(&chain, verifier, verify_call(proof)).await);

    let mut tampered = proof.clone();
    let last = tampered.snark.len() - 1;
    tampered.snark[last] ^= 1;
    assert!(!answers(&chain, verifier, verify_call(&tampered)).await);

    let mut other_values = proof.clone();
    other_values.public.steps += 1;
    assert!(!answers(&chain, verifier, verify_call(&other_values)).await);

    // A verifier pinned to another digest: the precompile knows only its own key.
    let elsewhere = deploy_verifier(&chain, B256::repeat_byte(0x42));
    assert!(!answers(&chain, elsewhere, verify_call(proof)).await);

    // In a transaction, the verification is paid at the documented price.
    let dev = chain.dev_accounts()[1].clone();
    let tx = eip1559(
        &dev,
        CHAIN_ID,
        0,
        TxKind::Call(verifier),
        U256::ZERO,
        verify_call(proof).into(),
        16_000_000,
    );
    let receipt = chain
        .receipt(chain.send_raw(&tx).unwrap())
        .unwrap()
        .unwrap();
    assert!(receipt.success);
    assert!(
        receipt.gas_used > VERIFY_GAS && receipt.gas_used < VERIFY_GAS + 500_000,
        "gas used {}",
        receipt.gas_used
    );
}

#[tokio::test]
async fn without_a_key_there_is_no_verifier() {
    let chain = EmbeddedChain::open(
        Arc::new(MemoryStorage::new()),
        EmbeddedConfig::new(CHAIN_ID),
    )
    .unwrap();
    assert!(!chain.capabilities().verifies_proofs);
    let (vk, proof) = fixture();
    let digest = B256::from(vk.digest());
    let verifier = deploy_verifier(&chain, digest);
    // The call reaches an empty account at 0xF01D: the verifier contract refuses.
    let out = manyfold_chain::ChainReader::call(
        &chain,
        CallRequest::new(verifier, verify_call(proof)),
        BlockId::Tag(BlockTag::Latest),
    )
    .await;
    match out {
        Ok(bytes) => assert!(!PrecompileVerifier::verifyCall::abi_decode_returns(&bytes).unwrap()),
        Err(e) => assert!(
            matches!(e, manyfold_chain::ChainError::Reverted { .. }),
            "{e}"
        ),
    }
}
