//! The committee signs only what it read from the chains at their final head (DESIGN §6).

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;
use k256::ecdsa::SigningKey;
use manyfold_chain::testing::MockChain;
use manyfold_chain::{Chain, Finality};
use manyfold_contracts::attestation::{
    attestation_digest, confirmation_message, personal_digest, sync_hash_message,
    validator_address, AttestationKind, Receiver,
};
use manyfold_contracts::bindings::{Primary, Secondary};
use manyfold_contracts::settlement::StoredBlock;
use manyfold_settler::{ContractReader, SettlerError};
use manyfold_sync::{Committee, Route, SyncTransport};
use manyfold_types::ChainId;

const DOMAIN: B256 = B256::repeat_byte(0xd0);
const PRIMARY: Receiver = Receiver {
    evm_chain_id: 1,
    contract: Address::repeat_byte(0xaa),
};
const SECONDARY: Receiver = Receiver {
    evm_chain_id: 2,
    contract: Address::repeat_byte(0xbb),
};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32].into()).unwrap()
}

fn committee() -> Committee {
    Committee::new(vec![key()], 1, DOMAIN).unwrap()
}

fn block(number: u32, sequence: u32, sync: u8) -> StoredBlock {
    StoredBlock {
        block_number: number,
        block_sequence: sequence,
        priority_operations: 0,
        timestamp: 1,
        state_root: B256::repeat_byte(number as u8),
        ops_hash: B256::repeat_byte(2),
        sync_hash: B256::repeat_byte(sync),
        commitment: B256::ZERO,
    }
}

fn word(x: u64) -> Bytes {
    Bytes::from(B256::from(U256::from(x)).to_vec())
}

/// A mock chain of `blocks` blocks whose final head is `final_depth` below the latest,
/// answering the contract's views with `answer(selector, args, block number)`.
fn chain(
    final_depth: u64,
    answer: impl Fn([u8; 4], &[u8], u64) -> Bytes + Send + Sync + 'static,
) -> Arc<MockChain> {
    let mock = MockChain::new(9);
    mock.mine_n(10);
    mock.set_depths(0, final_depth);
    mock.on_call(move |call, at| {
        let selector: [u8; 4] = call.input[..4].try_into().unwrap();
        Ok(answer(selector, &call.input[4..], at))
    });
    Arc::new(mock)
}

fn reader(mock: Arc<MockChain>, address: Address) -> ContractReader {
    let chain: Arc<dyn Chain> = mock;
    ContractReader {
        name: "test".into(),
        chain,
        address,
        finality: Finality::Finalized,
    }
}

fn signer_of(signature: &Bytes, digest: B256) -> Address {
    alloy_primitives::Signature::from_raw(signature)
        .unwrap()
        .recover_address_from_prehash(&personal_digest(digest))
        .unwrap()
}

#[tokio::test]
async fn a_sync_hash_is_signed_only_as_the_secondary_stored_it_at_its_final_head() {
    let claimed = block(5, 2, 0x51);
    let stored_hash = claimed.hash();
    // The final head is block 7 (latest 10, depth 3): the secondary stores the block there,
    // with 4 reverts applied; at the latest head it answers otherwise (never read).
    let mock = chain(3, move |selector, _, at| {
        if at != 7 {
            return word(999);
        }
        if selector == Secondary::storedBlockHashesCall::SELECTOR {
            Bytes::from(stored_hash.to_vec())
        } else if selector == Secondary::revertsAppliedCall::SELECTOR {
            word(4)
        } else {
            panic!("unexpected view {selector:?}")
        }
    });
    let secondary = reader(mock, SECONDARY.contract);
    let route = Route {
        source: &secondary,
        source_chain: ChainId::new(1).unwrap(),
        receiver: PRIMARY,
        destination_chain: ChainId::new(0).unwrap(),
    };
    let tx = committee()
        .sync_hash(route, claimed)
        .await
        .unwrap()
        .expect("stored at the final head: signed");
    assert_eq!(tx.to, Some(PRIMARY.contract));
    let call = Primary::receiveSyncHashCall::abi_decode(&tx.calldata).unwrap();
    assert_eq!(
        (call.srcChainId, call.blockNumber, call.syncHash),
        (1, 5, claimed.sync_hash)
    );
    let digest = attestation_digest(
        DOMAIN,
        PRIMARY,
        1,
        0,
        AttestationKind::SyncHash,
        5,
        sync_hash_message(claimed.sync_hash, 4),
    );
    assert_eq!(call.signatures.len(), 1);
    assert_eq!(
        signer_of(&call.signatures[0], digest),
        validator_address(&key())
    );
}

#[tokio::test]
async fn nothing_is_signed_for_a_block_the_secondary_does_not_store_as_computed() {
    let claimed = block(5, 2, 0x51);
    // Not stored yet at the final head: nothing to sign yet.
    let empty = reader(
        chain(0, |_, _, _| Bytes::from(vec![0u8; 32])),
        SECONDARY.contract,
    );
    let route = |source| Route {
        source,
        source_chain: ChainId::new(1).unwrap(),
        receiver: PRIMARY,
        destination_chain: ChainId::new(0).unwrap(),
    };
    assert!(committee()
        .sync_hash(route(&empty), claimed)
        .await
        .unwrap()
        .is_none());
    // Stored as another block (another sync hash): refused loudly, never signed.
    let other = block(5, 2, 0x52).hash();
    let lying = reader(
        chain(0, move |_, _, _| Bytes::from(other.to_vec())),
        SECONDARY.contract,
    );
    let err = committee()
        .sync_hash(route(&lying), claimed)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SettlerError::Diverged { block: 5, .. }),
        "{err}"
    );
    assert!(err.is_fatal());
}

#[tokio::test]
async fn a_confirmation_waits_for_the_primary_to_execute_and_names_its_sync_hash() {
    let claimed = block(8, 8, 0x81);
    let stored_hash = claimed.hash();
    let primary_sync = B256::repeat_byte(0x99);
    let executed = Arc::new(std::sync::atomic::AtomicU64::new(7));
    let seen = executed.clone();
    let mock = chain(0, move |selector, args, _| {
        if selector == Primary::totalBlocksExecutedCall::SELECTOR {
            word(seen.load(std::sync::atomic::Ordering::SeqCst))
        } else if selector == Primary::storedBlockHashesCall::SELECTOR {
            Bytes::from(stored_hash.to_vec())
        } else if selector == Primary::syncHashAtCall::SELECTOR {
            // syncHashAt(chain 2, block 8)
            assert_eq!(
                args[..64],
                [word(2).to_vec(), word(8).to_vec()].concat()[..]
            );
            Bytes::from(primary_sync.to_vec())
        } else {
            panic!("unexpected view {selector:?}")
        }
    });
    let primary = reader(mock, PRIMARY.contract);
    let route = Route {
        source: &primary,
        source_chain: ChainId::new(0).unwrap(),
        receiver: SECONDARY,
        destination_chain: ChainId::new(2).unwrap(),
    };
    // Executed up to 7 only: block 8 is not confirmed yet (DESIGN §1: the primary first).
    assert!(committee()
        .confirmation(route, claimed)
        .await
        .unwrap()
        .is_none());
    executed.store(8, std::sync::atomic::Ordering::SeqCst);
    let tx = committee()
        .confirmation(route, claimed)
        .await
        .unwrap()
        .expect("executed: confirmed");
    let call = Secondary::receiveConfirmationCall::abi_decode(&tx.calldata).unwrap();
    assert_eq!(
        (call.blockNumber, call.stateRoot, call.syncHash),
        (8, claimed.state_root, primary_sync)
    );
    let digest = attestation_digest(
        DOMAIN,
        SECONDARY,
        0,
        2,
        AttestationKind::Confirmation,
        8,
        confirmation_message(claimed.state_root, primary_sync),
    );
    assert_eq!(
        signer_of(&call.signatures[0], digest),
        validator_address(&key())
    );
}

#[test]
fn a_committee_needs_its_threshold_of_distinct_keys() {
    assert!(Committee::new(Vec::new(), 1, DOMAIN).is_err());
    assert!(Committee::new(vec![key()], 2, DOMAIN).is_err());
    assert!(Committee::new(vec![key(), key()], 2, DOMAIN).is_err());
}
