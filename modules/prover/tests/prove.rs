//! Real Nova proofs of real ops: a fold of deposits, a key registration and transfers
//! compresses into a SNARK that verifies against the native roots and commitment, and is
//! rejected when tampered with, presented with other public values, or checked against
//! another verifying key than the pinned one. The parameter cache is keyed by circuit and
//! powers-of-tau source and never uses a corrupt file. The proving thread survives a panic
//! while proving and resumes from its durable progress.
//!
//! Parameters are set up once per circuit (insecure devnet powers of tau) in a devnet
//! directory under cargo's target tmp dir, shared by the tests of this file and by later
//! runs; tests that alter a cache work on copies.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use manyfold_block_builder::{BlockBuilder, BlockStore, NewBlock};
use manyfold_circuits::StepWitness;
use manyfold_mempool::Candidate;
use manyfold_prover::params::{
    cache_key, cache_path, load_cached, load_or_setup, ptau_digest, shape_digest,
};
use manyfold_prover::{
    retry_delay, verify, verify_pinned, verifying_key_digest, Folding, Params, ParamsError,
    PinnedVk, ProofStore, ProverActor, ProverConfig, PtauSource, VerifyError,
};
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::L2State;
use manyfold_storage::{MemoryStorage, Storage};
use manyfold_types::block::fr_to_b256;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::{ChainSet, Fr};

struct Devnet {
    chains: ChainSet,
    params_dir: PathBuf,
    ptau: PtauSource,
    params: Params,
    setup: Duration,
}

/// The shared devnet parameters (set up on first use, then loaded from the cache).
fn devnet() -> &'static Devnet {
    static DEVNET: OnceLock<Devnet> = OnceLock::new();
    DEVNET.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
        let params_dir = root.join("params");
        let ptau = PtauSource::InsecureDevnet(root.join("ptau"));
        let chains = ChainSet::local(1);
        let started = Instant::now();
        let params = load_or_setup(&params_dir, &ptau, &chains).unwrap();
        // Caches of earlier circuits (hundreds of MB each) are of no further use here.
        let current = cache_path(&params_dir, &params.cache_key);
        for entry in std::fs::read_dir(&params_dir).unwrap() {
            let path = entry.unwrap().path();
            if path != current && path.extension().is_some_and(|e| e == "bin") {
                let _ = std::fs::remove_file(path);
            }
        }
        Devnet {
            chains,
            params_dir,
            ptau,
            params,
            setup: started.elapsed(),
        }
    })
}

fn ptau_dir(source: &PtauSource) -> &Path {
    match source {
        PtauSource::Ceremony(dir) | PtauSource::InsecureDevnet(dir) => dir,
    }
}

/// The devnet's powers-of-tau file.
fn ptau_file(source: &PtauSource) -> PathBuf {
    std::fs::read_dir(ptau_dir(source))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ptau"))
        .expect("the devnet's ptau file")
}

#[test]
fn folded_ops_compress_into_a_proof_that_verifies_only_as_claimed() {
    let devnet = devnet();
    let params = &devnet.params;

    let mut scenario = Scenario::new(2, 1, 1);
    let mut state = L2State::new(devnet.chains.clone());
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
        folding.fold(params, witness).unwrap();
    }
    assert!(matches!(
        folding.compress(params),
        Err(manyfold_prover::ProveError::Unflushed(1))
    ));
    folding
        .flush(
            params,
            StepWitness::build(&state, &manyfold_types::Op::Noop),
        )
        .unwrap();
    assert_eq!(folding.current(), [state.root(), commitment]);
    let proof = folding.compress(params).unwrap();
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

    // A second start finds the cache, with the same verifying key digest.
    let started = Instant::now();
    let cached = load_or_setup(&devnet.params_dir, &devnet.ptau, &devnet.chains).unwrap();
    let cached_load = started.elapsed();
    assert_eq!(cached.shape_digest, params.shape_digest);
    assert_eq!(cached.cache_key, params.cache_key);
    verify(&cached.vk, &proof.snark, &proof.public).unwrap();

    // Issue 9 item 14: the verifying key is pinned by a digest that is the same for the
    // same parameters across loads, and a proof checked against another digest is an
    // invalid proof (an error, not a panic), whatever the proof.
    assert_eq!(verifying_key_digest(&params.vk), params.vk_digest);
    assert_eq!(verifying_key_digest(&cached.vk), params.vk_digest);
    assert_eq!(cached.vk_digest, params.vk_digest);
    verify_pinned(&params.vk, &params.vk_digest, &proof.snark, &proof.public).unwrap();
    let mut other = params.vk_digest;
    other[31] ^= 1;
    assert!(matches!(
        verify_pinned(&params.vk, &other, &proof.snark, &proof.public),
        Err(VerifyError::UnknownKey { .. })
    ));
    let pinned = PinnedVk::new(cached.vk);
    assert_eq!(pinned.digest(), params.vk_digest);
    pinned
        .verify(&params.vk_digest, &proof.snark, &proof.public)
        .unwrap();
    let refused = pinned
        .verify(&other, &proof.snark, &proof.public)
        .unwrap_err();
    assert!(matches!(refused, VerifyError::UnknownKey { .. }));
    assert!(refused.to_string().contains("pinned"), "{refused}");
    assert!(matches!(
        pinned.verify(&[0; 32], b"not a proof", &proof.public),
        Err(VerifyError::UnknownKey { .. })
    ));
    assert!(matches!(
        pinned.verify(&params.vk_digest, b"not a proof", &proof.public),
        Err(VerifyError::Malformed(_))
    ));
    println!(
        "setup or first load {:?}, cached load {cached_load:?}, constraints {:?}, proof {} bytes",
        devnet.setup,
        params.constraints(),
        proof.snark.len()
    );
}

/// Issue 9 item 14: parameters are cached under the circuit's digest AND the powers-of-tau
/// source: the same bytes offered as a ceremony file, or another devnet file, never reuse
/// the devnet's cache.
#[test]
fn the_parameter_cache_is_keyed_by_circuit_and_powers_of_tau_source() {
    let devnet = devnet();
    let params = &devnet.params;
    assert_eq!(params.shape_digest, shape_digest(devnet.chains.len()));
    assert_eq!(params.ptau_digest, ptau_digest(&devnet.ptau).unwrap());
    assert_eq!(
        params.cache_key,
        cache_key(&params.shape_digest, &params.ptau_digest)
    );
    // (The same source loading its cache is shown above.)
    assert!(cache_path(&devnet.params_dir, &params.cache_key).exists());

    let scratch = tempfile::tempdir().unwrap();
    let original = ptau_file(&devnet.ptau);
    let name = original.file_name().unwrap();

    // The devnet's own (insecure) file, offered as a ceremony file.
    let ceremony = PtauSource::Ceremony(scratch.path().join("ceremony"));
    std::fs::create_dir_all(ptau_dir(&ceremony)).unwrap();
    std::fs::copy(&original, ptau_dir(&ceremony).join(name)).unwrap();
    assert_ne!(ptau_digest(&ceremony).unwrap(), params.ptau_digest);
    assert!(
        load_cached(&devnet.params_dir, &ceremony, &devnet.chains)
            .unwrap()
            .is_none(),
        "devnet parameters are never reused with ceremony files"
    );

    // Another devnet file (one byte differs).
    let other = PtauSource::InsecureDevnet(scratch.path().join("other-devnet"));
    std::fs::create_dir_all(ptau_dir(&other)).unwrap();
    let mut bytes = std::fs::read(&original).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(ptau_dir(&other).join(name), bytes).unwrap();
    let other_digest = ptau_digest(&other).unwrap();
    assert_ne!(other_digest, params.ptau_digest);
    assert_ne!(
        cache_key(&params.shape_digest, &other_digest),
        params.cache_key
    );
    assert!(load_cached(&devnet.params_dir, &other, &devnet.chains)
        .unwrap()
        .is_none());

    // No file at all: a clear error.
    let empty = PtauSource::Ceremony(scratch.path().join("empty"));
    std::fs::create_dir_all(ptau_dir(&empty)).unwrap();
    assert!(matches!(
        load_cached(&devnet.params_dir, &empty, &devnet.chains),
        Err(ParamsError::NoPtau(_))
    ));
}

/// Issue 9 item 14: a corrupt cache file is refused with a clear error and never used;
/// `load_or_setup` sets the parameters up again, with the same verifying key digest (the
/// setup is deterministic for one circuit and one powers-of-tau file).
#[test]
fn a_corrupt_parameter_cache_is_refused_and_rebuilt() {
    let devnet = devnet();
    let params = &devnet.params;
    let scratch = tempfile::tempdir().unwrap();
    let cache_dir = scratch.path().join("params");
    std::fs::create_dir_all(&cache_dir).unwrap();
    let good = std::fs::read(cache_path(&devnet.params_dir, &params.cache_key)).unwrap();
    let path = cache_path(&cache_dir, &params.cache_key);
    let refused = |bytes: &[u8]| -> String {
        std::fs::write(&path, bytes).unwrap();
        match load_cached(&cache_dir, &devnet.ptau, &devnet.chains) {
            Err(e @ ParamsError::CorruptCache { .. }) => e.to_string(),
            Err(e) => panic!("unexpected error {e}"),
            Ok(p) => panic!("a corrupt cache was used: {}", p.is_some()),
        }
    };

    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x20;
    let message = refused(&flipped);
    assert!(message.contains("checksum"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(refused(&good[..good.len() - 1]).contains("length"));
    assert!(refused(&good[..50]).contains("not a parameter cache"));
    let mut other_key = good.clone();
    other_key[30] ^= 1; // inside the recorded cache key
    assert!(refused(&other_key).contains("cache key"));

    // The node's path sets up again and replaces the corrupt file.
    std::fs::write(&path, &flipped).unwrap();
    let rebuilt = load_or_setup(&cache_dir, &devnet.ptau, &devnet.chains).unwrap();
    assert_eq!(rebuilt.vk_digest, params.vk_digest);
    assert_eq!(
        load_cached(&cache_dir, &devnet.ptau, &devnet.chains)
            .unwrap()
            .expect("the rebuilt cache loads")
            .vk_digest,
        params.vk_digest
    );
}

/// Starts the prover actor over `storage`, one block per proof, with `hook` called before
/// each block is folded. It finds blocks by polling: nothing is sent on the returned
/// channel of builder events, which must live as long as the prover.
fn start_prover(
    devnet: &Devnet,
    storage: &Arc<dyn Storage>,
    hook: Option<manyfold_prover::BlockHook>,
) -> (
    manyfold_prover::ProverHandle,
    tokio::sync::broadcast::Sender<NewBlock>,
) {
    let (events, receiver) = tokio::sync::broadcast::channel::<NewBlock>(4);
    let config = ProverConfig {
        enabled: true,
        max_blocks_per_proof: 1,
        ..ProverConfig::default()
    };
    let mut actor = ProverActor::new(
        config,
        storage.clone(),
        devnet.params_dir.clone(),
        devnet.ptau.clone(),
        devnet.chains.clone(),
        receiver,
    );
    if let Some(hook) = hook {
        actor = actor.with_block_hook(hook);
    }
    (actor.start_actor(Duration::from_secs(5)), events)
}

/// Issue 9 item 2 (runtime half): a panic while proving a block (as a witness that makes
/// one of nova's gadgets panic would cause) does not kill the proving thread. It is caught,
/// counted and reported with its block; proving resumes from the durable progress after a
/// growing backoff, retries the same block without skipping it, proves no block twice, and
/// the proofs chain.
///
/// The prover starts on a fresh store, before the block builder writes the genesis block
/// (as the node may start them): it waits for blocks without an error (it once failed
/// "block 0 does not reproduce its state root" until the genesis appeared).
#[test]
fn a_panic_while_proving_is_caught_and_proving_resumes() {
    let devnet = devnet();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::default());
    let state = Arc::new(RwLock::new(L2State::new(devnet.chains.clone())));
    let seal_two_blocks = || {
        let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
        let mut scenario = Scenario::new(2, 1, 1);
        for user in 0..2 {
            let op = scenario
                .op(
                    &state.read().unwrap(),
                    Action::Deposit {
                        user,
                        chain: 0,
                        token: 0,
                        amount: 10,
                    },
                )
                .unwrap();
            let candidate = Candidate {
                seq: user as u64,
                op,
                tx_hash: None,
                priority: None,
            };
            builder.seal(&[candidate], 1).unwrap().unwrap();
        }
    };

    // Proving block 2 panics on its first two attempts.
    let calls: Arc<Mutex<Vec<(u32, Instant)>>> = Arc::default();
    let panics_left = Arc::new(AtomicU32::new(2));
    let hook = {
        let calls = calls.clone();
        let panics_left = panics_left.clone();
        Arc::new(move |block: u32| {
            calls.lock().unwrap().push((block, Instant::now()));
            if block == 2
                && panics_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                panic!("injected fault while proving block {block}");
            }
        })
    };

    let status = actix_rt::System::new().block_on(async {
        let (prover, _events) = start_prover(devnet, &storage, Some(hook));
        let deadline = Instant::now() + Duration::from_secs(300);
        let ready = loop {
            let status = prover.status().await.unwrap();
            if status.ready {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "ready on an empty store: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!((ready.failing_block, ready.last_proven), (None, 0));
        seal_two_blocks();
        let status = loop {
            let status = prover.status().await.unwrap();
            if status.last_proven >= 2 {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "proving did not resume: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        prover.stop().await;
        status
    });

    assert_eq!(status.panics, 2, "each panic is counted");
    assert_eq!(status.failing_block, None, "proving recovered");
    assert_eq!(status.vk_digest, Some(devnet.params.vk_digest));
    let calls = calls.lock().unwrap().clone();
    let blocks: Vec<u32> = calls.iter().map(|(b, _)| *b).collect();
    assert_eq!(
        blocks,
        [1, 2, 2, 2],
        "block 1 proven once, block 2 retried until it succeeds, nothing skipped"
    );
    // Retries back off: never a busy loop.
    let gap = |i: usize| calls[i + 1].1 - calls[i].1;
    assert!(gap(1) >= retry_delay(1), "{:?}", gap(1));
    assert!(gap(2) >= retry_delay(2), "{:?}", gap(2));

    let proofs = ProofStore::new(storage.clone());
    assert_eq!(proofs.last_proven().unwrap(), 2);
    let first = proofs.proof_covering(1).unwrap().unwrap();
    let second = proofs.proof_covering(2).unwrap().unwrap();
    assert_eq!((first.from_block, first.to_block), (1, 1));
    assert_eq!((second.from_block, second.to_block), (2, 2));
    assert_eq!(second.public.old_root, first.public.new_root);
    assert_eq!(second.public.old_commitment, first.public.new_commitment);
    let blocks = BlockStore::new(storage);
    let block_two = blocks.block(2).unwrap().unwrap();
    assert_eq!(fr_to_b256(&second.public.new_root), block_two.state_root);
    assert_eq!(
        fr_to_b256(&second.public.new_commitment),
        block_two.pubdata_commitment
    );
    for proof in [&first, &second] {
        verify_pinned(
            &devnet.params.vk,
            &devnet.params.vk_digest,
            &proof.snark,
            &proof.public,
        )
        .unwrap();
    }
}
