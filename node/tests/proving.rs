//! End to end: blocks sealed by the node are proven by its prover, the stored proofs verify
//! against the blocks' roots, and after a restart proving resumes at the first unproven
//! block, chaining from the last proof's values.

mod common;

use std::time::{Duration, Instant};

use common::*;
use manyfold_node::RunningNode;
use manyfold_prover::params::load_or_setup;
use manyfold_prover::{verify, PtauSource, StoredProof};
use manyfold_rpc::api::{BlockTag, ManyfoldApiClient};
use manyfold_state::testing::User;
use manyfold_types::block::fr_to_b256;
use manyfold_types::TxStatus;

fn proving_config(dir: &std::path::Path) -> manyfold_node::config::NodeConfig {
    let mut config = test_config(dir);
    config.prover.enabled = true;
    config.prover.insecure_devnet_setup = true;
    config.prover.max_blocks_per_proof = 4;
    config
}

async fn proven_through(node: &RunningNode, block: u32) -> StoredProof {
    let prover = node.prover.as_ref().expect("prover enabled");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = prover.status().await {
            if status.last_proven >= block {
                return prover
                    .proof_covering(block)
                    .expect("a proof covers every proven block");
            }
        }
        assert!(
            Instant::now() < deadline,
            "block {block} was not proven in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn sealed_blocks_are_proven_and_proving_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let alice = User::from_seed(11);
    let bob = User::from_seed(12);
    let first = run(async {
        let node = manyfold_node::start(&proving_config(dir.path()))
            .await
            .unwrap();
        let client = http(node.rpc_addr);
        let ids = fund(&client, &[(&alice, 1_000), (&bob, 10)], 0).await;
        let (a, b) = (ids[0], ids[1]);
        submit(&client, register_key(&alice, a, 0)).await;
        let r = receipt(
            &client,
            client
                .send_transaction(transfer(&alice, a, b, 250, 1))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, TxStatus::Included);
        let proof = proven_through(&node, r.block_number).await;
        let block = client
            .get_block_by_number(BlockTag::Number(proof.to_block))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fr_to_b256(&proof.public.new_root), block.state_root);
        assert_eq!(
            fr_to_b256(&proof.public.new_commitment),
            block.pubdata_commitment
        );
        assert_eq!(proof.from_block, 1);
        node.stop().await;
        proof
    });

    let second = run(async {
        let node = manyfold_node::start(&proving_config(dir.path()))
            .await
            .unwrap();
        let client = http(node.rpc_addr);
        let r = receipt(
            &client,
            client
                .send_transaction(transfer(&alice, 0, 1, 5, 2))
                .await
                .unwrap(),
        )
        .await;
        let proof = proven_through(&node, r.block_number).await;
        node.stop().await;
        proof
    });
    // The second proof starts exactly where the first ended: no block skipped or proven twice.
    assert_eq!(second.from_block, first.to_block + 1);
    assert_eq!(second.public.old_root, first.public.new_root);
    assert_eq!(second.public.old_commitment, first.public.new_commitment);

    // Both verify with the verifier key of the cached parameters, and only as claimed.
    let params = load_or_setup(
        &dir.path().join("params"),
        &PtauSource::InsecureDevnet(dir.path().join("insecure-ptau")),
        &manyfold_types::ChainSet::local(1),
    )
    .unwrap();
    verify(&params.vk, &first.snark, &first.public).unwrap();
    verify(&params.vk, &second.snark, &second.public).unwrap();
    assert!(verify(&params.vk, &second.snark, &first.public).is_err());
}
