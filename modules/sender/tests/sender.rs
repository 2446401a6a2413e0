//! The durable sender against a mock chain with a transaction pool in front
//! (`harness::TestChain`) and a memory store whose commits can fail.

mod harness;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use harness::{decode, CheckingSigner, FlakyStorage, TestChain};
use manyfold_chain::{ChainError, ErrorClass, FeeEstimate};
use manyfold_sender::{
    Confirmation, DurableSender, LocalSigner, NewTx, SenderConfig, SenderError, SenderEvent,
    SenderStore, StopKind, TxId, TxSigner, TxState,
};
use manyfold_storage::Storage;

const CHAIN_ID: u64 = 31_337;
const KEY: [u8; 32] = [0x42; 32];
const CONTRACT: Address = Address::repeat_byte(0xcc);
const GWEI: u128 = 1_000_000_000;

struct Setup {
    chain: TestChain,
    storage: Arc<FlakyStorage>,
    signer: Arc<CheckingSigner>,
    config: SenderConfig,
}

impl Setup {
    fn new() -> Self {
        let chain = TestChain::new(CHAIN_ID);
        let storage = Arc::new(FlakyStorage::default());
        let inner = LocalSigner::from_bytes(&KEY).unwrap();
        let sender = inner.address();
        let signer = Arc::new(CheckingSigner {
            inner,
            store: SenderStore::new(storage.clone(), CHAIN_ID, sender),
            signed: Default::default(),
        });
        let mut config = SenderConfig::new("l1", CHAIN_ID, sender, 100 * GWEI, 10 * GWEI);
        config.blocks_before_replacement = 3;
        config.max_in_flight = 2;
        config.bump_percent = 10;
        Self {
            chain,
            storage,
            signer,
            config,
        }
    }

    async fn open(&self) -> DurableSender {
        self.open_with(self.config.clone()).await.unwrap()
    }

    async fn open_with(&self, config: SenderConfig) -> Result<DurableSender, SenderError> {
        DurableSender::open(
            self.storage.clone(),
            Arc::new(self.chain.clone()),
            self.signer.clone(),
            config,
        )
        .await
    }

    fn store(&self) -> SenderStore {
        SenderStore::new(self.storage.clone(), CHAIN_ID, self.config.sender)
    }
}

fn request(label: &str, byte: u8) -> NewTx {
    NewTx::call(label, CONTRACT, vec![byte; 4]).with_gas_limit(200_000)
}

fn sent(events: &[SenderEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            SenderEvent::Sent { nonce, .. } => Some(*nonce),
            _ => None,
        })
        .collect()
}

fn confirmed(events: &[SenderEvent]) -> Vec<(u64, Confirmation)> {
    events
        .iter()
        .filter_map(|e| match e {
            SenderEvent::Confirmed {
                nonce,
                confirmation,
                ..
            } => Some((*nonce, *confirmation)),
            _ => None,
        })
        .collect()
}

fn state(sender: &DurableSender, nonce: u64) -> TxState {
    sender.request(TxId(nonce)).unwrap().unwrap().tx.state
}

#[tokio::test]
async fn requests_are_stored_before_anything_is_signed() {
    let setup = Setup::new();
    let mut sender = setup.open().await;

    setup.storage.fail_next_commits(1);
    let err = sender.enqueue(request("commit", 1)).unwrap_err();
    assert!(matches!(err, SenderError::Storage(_)), "{err}");
    assert_eq!(err.class(), ErrorClass::Transient);
    sender.tick().await.unwrap();
    assert_eq!(
        setup.signer.signed.load(Ordering::SeqCst),
        0,
        "nothing to sign"
    );
    assert!(setup.chain.accepted().is_empty());
    assert!(setup.store().request(0).unwrap().is_none());

    let id = sender.enqueue(request("commit", 1)).unwrap();
    assert_eq!(id, TxId(0), "a failed enqueue uses no nonce");
    let stored = setup.store().request(0).unwrap().unwrap();
    assert_eq!(
        (stored.label.as_str(), stored.calldata.as_ref()),
        ("commit", &[1u8; 4][..])
    );
    assert!(
        setup.store().attempts(0).unwrap().is_empty(),
        "not signed yet"
    );
    assert_eq!(setup.signer.signed.load(Ordering::SeqCst), 0);

    // The signer asserts the request is in the store each time it signs.
    let report = sender.tick().await.unwrap();
    assert_eq!(sent(&report.events), vec![0]);
    assert_eq!(setup.signer.signed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_creation_is_signed_without_a_callee_and_needs_a_gas_limit() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    let mut no_gas = NewTx::create("deploy", vec![0x60, 0x00], 1);
    no_gas.gas_limit = None;
    let err = sender.enqueue(no_gas).unwrap_err();
    assert!(matches!(err, SenderError::InvalidRequest(_)), "{err}");
    assert!(
        setup.store().request(0).unwrap().is_none(),
        "nothing stored"
    );

    let id = sender
        .enqueue(NewTx::create("deploy", vec![0x60, 0x00], 300_000))
        .unwrap();
    assert_eq!(id, TxId(0));
    sender.tick().await.unwrap();
    let (_, tx) = decode(&setup.store().attempts(0).unwrap()[0].raw);
    assert!(tx.to.is_create(), "{:?}", tx.to);
    assert_eq!(
        (tx.gas_limit, tx.input.as_ref()),
        (300_000, &[0x60, 0x00][..])
    );
}

#[tokio::test]
async fn finality_follows_the_chains_rule_not_its_finalized_tag() {
    let setup = Setup::new();
    // The chain's own `finalized` head is the latest block; the rule asks for 2 on top.
    setup.chain.mock.set_depths(0, 0);
    let mut config = setup.config.clone();
    config.finality = manyfold_chain::Finality::Blocks(2);
    let mut sender = setup.open_with(config).await.unwrap();
    sender.enqueue(request("commit", 1)).unwrap();
    sender.tick().await.unwrap();
    setup.chain.mine();
    let report = sender.tick().await.unwrap();
    assert_eq!(confirmed(&report.events), vec![(0, Confirmation::Safe)]);
    setup.chain.advance(1);
    assert!(confirmed(&sender.tick().await.unwrap().events).is_empty());
    setup.chain.advance(1);
    assert_eq!(
        confirmed(&sender.tick().await.unwrap().events),
        vec![(0, Confirmation::Finalized)],
        "final with two blocks on top"
    );
}

#[tokio::test]
async fn what_the_rule_calls_final_is_safe_whatever_the_safe_tag_says() {
    let setup = Setup::new();
    // The chain's tags trail far behind (anvil's do); the rule trusts the latest block.
    setup.chain.mock.set_depths(32, 64);
    let mut config = setup.config.clone();
    config.finality = manyfold_chain::Finality::Blocks(0);
    let mut sender = setup.open_with(config).await.unwrap();
    sender.enqueue(request("deploy", 1)).unwrap();
    sender.tick().await.unwrap();
    setup.chain.mine();
    assert_eq!(
        confirmed(&sender.tick().await.unwrap().events),
        vec![(0, Confirmation::Finalized)]
    );
    assert_eq!(sender.status().heads.unwrap().safe, 1);
}

#[tokio::test]
async fn every_attempt_is_stored_before_it_is_broadcast() {
    let setup = Setup::new();
    let store = setup.store();
    setup.chain.on_send(move |hash, nonce| {
        let attempts = store.attempts(nonce).unwrap();
        assert!(
            attempts.iter().any(|a| a.hash == hash),
            "attempt {hash} at nonce {nonce} broadcast before it was stored"
        );
    });
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();

    // The attempt cannot be stored: nothing reaches the chain.
    setup.storage.fail_next_commits(1);
    let err = sender.tick().await.unwrap_err();
    assert!(matches!(err, SenderError::Storage(_)), "{err}");
    assert!(setup.chain.accepted().is_empty());
    assert!(setup.store().attempts(0).unwrap().is_empty());

    let report = sender.tick().await.unwrap();
    assert_eq!(sent(&report.events), vec![0]);
    let attempts = setup.store().attempts(0).unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(setup.chain.accepted(), vec![(0, attempts[0].hash)]);
    let (from, tx) = decode(&attempts[0].raw);
    assert_eq!(from, setup.config.sender);
    assert_eq!(
        (tx.chain_id, tx.nonce, tx.gas_limit),
        (CHAIN_ID, 0, 200_000)
    );
    assert_eq!(tx.to.to(), Some(&CONTRACT));

    // Replacements too (the hook checks them).
    setup.chain.advance(3);
    let report = sender.tick().await.unwrap();
    assert!(report
        .events
        .iter()
        .any(|e| matches!(e, SenderEvent::Replaced { nonce: 0, .. })));
    assert_eq!(setup.chain.accepted().len(), 2);
}

#[tokio::test]
async fn sends_in_nonce_order_with_a_cap_in_flight() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    for i in 0..5 {
        assert_eq!(
            sender.enqueue(request("commit", i)).unwrap(),
            TxId(u64::from(i))
        );
    }
    let report = sender.tick().await.unwrap();
    assert_eq!(sent(&report.events), vec![0, 1], "two in flight at most");
    assert!(sent(&sender.tick().await.unwrap().events).is_empty());
    let status = sender.status();
    assert_eq!(
        (status.queued, status.in_flight, status.next_nonce),
        (3, 2, 5)
    );

    setup.chain.mine();
    let report = sender.tick().await.unwrap();
    assert_eq!(
        confirmed(&report.events),
        vec![(0, Confirmation::Finalized), (1, Confirmation::Finalized)],
        "depths 0: mined is final"
    );
    assert_eq!(sent(&report.events), vec![2, 3]);
    setup.chain.mine();
    assert_eq!(sent(&sender.tick().await.unwrap().events), vec![4]);
    setup.chain.mine();
    sender.tick().await.unwrap();

    let order: Vec<u64> = setup.chain.accepted().iter().map(|(n, _)| *n).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4], "strictly in nonce order");
    for nonce in 0..5 {
        assert_eq!(setup.chain.mined_per_nonce()[&nonce].len(), 1);
        let (_, tx) = decode(&setup.store().attempts(nonce).unwrap()[0].raw);
        assert_eq!(tx.input.as_ref(), &[nonce as u8; 4]);
    }
    let status = sender.status();
    assert_eq!(
        (status.queued, status.in_flight, status.unfinalized),
        (0, 0, 0)
    );
    assert_eq!(setup.store().meta().unwrap().final_below, 5);
}

#[tokio::test]
async fn confirmations_go_latest_then_safe_then_finalized() {
    let setup = Setup::new();
    setup.chain.mock.set_depths(2, 4);
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();
    sender.tick().await.unwrap();
    assert_eq!(state(&sender, 0), TxState::Unconfirmed);

    let block = setup.chain.mine();
    let report = sender.tick().await.unwrap();
    assert_eq!(confirmed(&report.events), vec![(0, Confirmation::Mined)]);
    let TxState::Included(inclusion) = state(&sender, 0) else {
        panic!("mined")
    };
    assert_eq!(
        (inclusion.block_number, inclusion.block_hash, inclusion.tx),
        (
            block.number,
            block.hash,
            setup.store().attempts(0).unwrap()[0].hash
        )
    );
    assert_eq!(inclusion.gas_used, manyfold_chain::testing::MOCK_TX_GAS);

    setup.chain.advance(1);
    assert!(confirmed(&sender.tick().await.unwrap().events).is_empty());
    setup.chain.advance(1);
    assert_eq!(
        confirmed(&sender.tick().await.unwrap().events),
        vec![(0, Confirmation::Safe)]
    );
    assert_eq!(setup.store().meta().unwrap().final_below, 0);
    setup.chain.advance(2);
    assert_eq!(
        confirmed(&sender.tick().await.unwrap().events),
        vec![(0, Confirmation::Finalized)]
    );
    assert_eq!(setup.store().meta().unwrap().final_below, 1);
    let TxState::Included(inclusion) = setup.store().request(0).unwrap().unwrap().state else {
        panic!("final")
    };
    assert_eq!(inclusion.confirmation, Confirmation::Finalized);
    // A mined transaction is never replaced, however long it waits.
    setup.chain.advance(10);
    let report = sender.tick().await.unwrap();
    assert!(report.events.is_empty(), "{:?}", report.events);
    assert_eq!(setup.chain.accepted().len(), 1);
}

#[tokio::test]
async fn a_waiting_transaction_is_replaced_after_n_blocks_and_one_lands() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    sender.enqueue(request("prove", 1)).unwrap();
    sender.tick().await.unwrap();
    let first = setup.store().attempts(0).unwrap()[0].clone();
    assert_eq!(first.fees.max_fee_per_gas, 3 * GWEI, "the mock's estimate");
    assert_eq!(first.fees.max_priority_fee_per_gas, GWEI);

    setup.chain.advance(2);
    assert!(
        sender.tick().await.unwrap().events.is_empty(),
        "2 of 3 blocks"
    );
    setup.chain.advance(1);
    let report = sender.tick().await.unwrap();
    let [SenderEvent::Replaced { nonce: 0, tx, fees }] = report.events.as_slice() else {
        panic!("{:?}", report.events)
    };
    assert!(fees.max_fee_per_gas * 100 >= first.fees.max_fee_per_gas * 110);
    assert!(fees.max_priority_fee_per_gas * 100 >= first.fees.max_priority_fee_per_gas * 110);
    let attempts = setup.store().attempts(0).unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].hash, *tx);
    let (_, replacement) = decode(&attempts[1].raw);
    assert_eq!(replacement.nonce, 0, "same nonce");
    assert_eq!(replacement.max_fee_per_gas, fees.max_fee_per_gas);
    assert_eq!(replacement.input.as_ref(), &[1u8; 4]);

    // The replacement waits again from its own signing.
    setup.chain.advance(2);
    assert!(sender.tick().await.unwrap().events.is_empty());

    setup.chain.mine();
    let report = sender.tick().await.unwrap();
    assert_eq!(
        confirmed(&report.events),
        vec![(0, Confirmation::Finalized)]
    );
    let mined = setup.chain.mined_per_nonce();
    assert_eq!(mined[&0], vec![*tx], "exactly one lands: the replacement");
    let TxState::Included(inclusion) = state(&sender, 0) else {
        panic!("included")
    };
    assert_eq!(inclusion.tx, *tx);
    assert_eq!(setup.chain.accepted_per_nonce()[&0], 2);
}

#[tokio::test]
async fn fees_never_exceed_the_caps_and_a_capped_transaction_waits() {
    let setup = Setup::new();
    setup.chain.mock.set_fees(FeeEstimate {
        base_fee_per_gas: 150 * GWEI,
        max_fee_per_gas: 400 * GWEI,
        max_priority_fee_per_gas: 20 * GWEI,
    });
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();
    sender.tick().await.unwrap();
    let first = setup.store().attempts(0).unwrap()[0].clone();
    assert_eq!(first.fees.max_fee_per_gas, 100 * GWEI, "clamped to the cap");
    assert_eq!(first.fees.max_priority_fee_per_gas, 10 * GWEI);

    setup.chain.advance(3);
    let report = sender.tick().await.unwrap();
    assert!(
        matches!(
            report.events.as_slice(),
            [SenderEvent::StuckAtCap { nonce: 0, .. }]
        ),
        "{:?}",
        report.events
    );
    assert_eq!(sender.status().stuck_at_cap, Some(0));
    assert!(sender.request(TxId(0)).unwrap().unwrap().stuck_at_cap);
    setup.chain.advance(5);
    let report = sender.tick().await.unwrap();
    assert!(
        report.events.is_empty(),
        "reported once: {:?}",
        report.events
    );
    assert_eq!(
        setup.store().attempts(0).unwrap().len(),
        1,
        "no replacement"
    );
    assert_eq!(setup.chain.accepted().len(), 1);

    // Raising the caps (a restart with a new config) lets it through.
    drop(sender);
    let mut config = setup.config.clone();
    config.max_fee_per_gas = 200 * GWEI;
    config.max_priority_fee_per_gas = 15 * GWEI;
    let mut sender = setup.open_with(config).await.unwrap();
    sender.tick().await.unwrap();
    let attempts = setup.store().attempts(0).unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].fees.max_fee_per_gas, 200 * GWEI);
    assert_eq!(attempts[1].fees.max_priority_fee_per_gas, 15 * GWEI);
    assert_eq!(sender.status().stuck_at_cap, None);
    for attempt in &attempts {
        let (_, tx) = decode(&attempt.raw);
        assert!(tx.max_fee_per_gas <= 200 * GWEI && tx.max_priority_fee_per_gas <= 15 * GWEI);
    }
}

#[tokio::test]
async fn a_reverted_transaction_stops_the_sender_until_an_operator_clears_it() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();
    sender.enqueue(request("prove", 2)).unwrap();
    sender.tick().await.unwrap();
    setup.chain.revert_nonce(0);
    setup.chain.mine();

    let err = sender.tick().await.unwrap_err();
    let SenderError::Stopped(reason) = &err else {
        panic!("{err}")
    };
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert_eq!((reason.nonce, reason.label.as_str()), (0, "commit"));
    let tx0 = setup.store().attempts(0).unwrap()[0].hash;
    assert!(matches!(reason.kind, StopKind::Reverted { tx, .. } if tx == tx0));
    assert!(err.to_string().contains("reverted"), "{err}");
    assert!(matches!(state(&sender, 0), TxState::Reverted(_)));

    assert!(matches!(sender.tick().await, Err(SenderError::Stopped(_))));
    assert!(matches!(
        sender.enqueue(request("execute", 3)),
        Err(SenderError::Stopped(_))
    ));
    setup.chain.advance(10);

    // The stop survives a restart.
    drop(sender);
    let mut sender = setup.open().await;
    assert_eq!(sender.stopped().map(|r| r.nonce), Some(0));
    assert!(matches!(sender.tick().await, Err(SenderError::Stopped(_))));
    assert!(matches!(
        sender.enqueue(request("execute", 3)),
        Err(SenderError::Stopped(_))
    ));
    assert_eq!(setup.store().meta().unwrap().stopped.unwrap().nonce, 0);

    let cleared = sender.clear_stop().unwrap().unwrap();
    assert_eq!(cleared.nonce, 0);
    assert!(setup.store().meta().unwrap().stopped.is_none());
    let report = sender.tick().await.unwrap();
    assert_eq!(
        confirmed(&report.events),
        vec![(1, Confirmation::Finalized)]
    );
    assert!(
        matches!(state(&sender, 0), TxState::Reverted(_)),
        "stays reverted"
    );
    assert_eq!(sender.enqueue(request("execute", 3)).unwrap(), TxId(2));
    sender.tick().await.unwrap();
    assert_eq!(
        setup.chain.accepted_per_nonce().get(&0),
        Some(&1),
        "never retried"
    );
    assert_eq!(setup.store().meta().unwrap().final_below, 2);
}

#[tokio::test]
async fn a_restart_resumes_without_sending_anything_twice() {
    let setup = Setup::new();
    setup.chain.mock.set_depths(0, 2);
    let mut sender = setup.open().await;
    for i in 0..4 {
        sender.enqueue(request("commit", i)).unwrap();
    }
    sender.tick().await.unwrap();
    setup.chain.mine(); // 0 and 1 mined, not final
    sender.tick().await.unwrap(); // 2 and 3 sent
    let before = setup.chain.accepted();
    assert_eq!(before.len(), 4);

    // Restart, twice, without a tick in between the first time.
    drop(sender);
    let sender = setup.open().await;
    assert_eq!(sender.status().next_nonce, 4, "nothing is enqueued again");
    drop(sender);
    let mut sender = setup.open().await;
    let report = sender.tick().await.unwrap();
    assert!(sent(&report.events).is_empty(), "{:?}", report.events);
    let rebroadcast: Vec<u64> = report
        .events
        .iter()
        .filter_map(|e| match e {
            SenderEvent::Rebroadcast { nonce, .. } => Some(*nonce),
            _ => None,
        })
        .collect();
    assert_eq!(rebroadcast, vec![2, 3], "the unmined ones, same bytes");
    assert_eq!(setup.chain.accepted(), before, "the chain already had them");
    assert_eq!(
        sender.enqueue(request("execute", 9)).unwrap(),
        TxId(4),
        "the next nonce is new"
    );

    setup.chain.mine();
    sender.tick().await.unwrap();
    setup.chain.advance(2);
    sender.tick().await.unwrap();
    drop(sender);
    let mut sender = setup.open().await;
    setup.chain.mine();
    sender.tick().await.unwrap();
    setup.chain.advance(2);
    sender.tick().await.unwrap();
    for nonce in 0..5 {
        assert_eq!(setup.chain.accepted_per_nonce()[&nonce], 1, "nonce {nonce}");
        assert_eq!(setup.chain.mined_per_nonce()[&nonce].len(), 1);
    }
    assert_eq!(sender.status().unfinalized, 0);
    assert_eq!(setup.signer.signed.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_crash_between_storing_and_broadcasting_sends_the_stored_bytes() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();
    setup
        .chain
        .fail_next_send(ChainError::Transport("connection reset".into()));
    let report = sender.tick().await.unwrap();
    assert!(matches!(report.deferred, Some(ChainError::Transport(_))));
    assert!(setup.chain.accepted().is_empty());
    let stored = setup.store().attempts(0).unwrap();
    assert_eq!(stored.len(), 1, "a send error deletes nothing");

    drop(sender); // the node dies before the next tick
    let mut sender = setup.open().await;
    let report = sender.tick().await.unwrap();
    assert!(
        matches!(report.events.as_slice(), [SenderEvent::Rebroadcast { nonce: 0, tx }] if *tx == stored[0].hash),
        "{:?}",
        report.events
    );
    assert_eq!(setup.chain.accepted(), vec![(0, stored[0].hash)]);
    assert_eq!(
        setup.signer.signed.load(Ordering::SeqCst),
        1,
        "not signed again"
    );
}

#[tokio::test]
async fn send_errors_delete_nothing_and_possibly_accepted_ones_are_watched() {
    let setup = Setup::new();
    let mut config = setup.config.clone();
    config.max_in_flight = 3;
    let mut sender = setup.open_with(config).await.unwrap();
    for i in 0..3 {
        sender.enqueue(request("commit", i)).unwrap();
    }

    // "Already known": the node may have it; no error, keep watching. Then a real error
    // on nonce 1: its attempt stays stored and sending stops there.
    setup.chain.fail_next_send(ChainError::AlreadyKnown);
    setup
        .chain
        .fail_next_send(ChainError::InsufficientFunds("0 wei".into()));
    let report = sender.tick().await.unwrap();
    assert_eq!(sent(&report.events), vec![0, 1], "signed and stored");
    assert!(matches!(
        report.deferred,
        Some(ChainError::InsufficientFunds(_))
    ));
    assert_eq!(setup.store().attempts(0).unwrap().len(), 1);
    assert_eq!(setup.store().attempts(1).unwrap().len(), 1, "kept");
    assert!(
        setup.store().attempts(2).unwrap().is_empty(),
        "sending stops at the first error"
    );
    assert!(setup.chain.accepted().is_empty());

    // Next tick: the chain does not know 0 (status unknown) and 1 failed: both go again,
    // the same bytes; then 2 is sent.
    let report = sender.tick().await.unwrap();
    assert!(report.deferred.is_none(), "{:?}", report.deferred);
    let again: Vec<u64> = report
        .events
        .iter()
        .filter_map(|e| match e {
            SenderEvent::Rebroadcast { nonce, .. } => Some(*nonce),
            _ => None,
        })
        .collect();
    assert_eq!(again, vec![0, 1]);
    assert_eq!(sent(&report.events), vec![2]);
    assert_eq!(
        setup.signer.signed.load(Ordering::SeqCst),
        3,
        "nothing signed twice"
    );
    assert_eq!(
        setup
            .chain
            .accepted_per_nonce()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![(0, 1), (1, 1), (2, 1)]
    );

    // "Nonce too low" on a rebroadcast: also watched, nothing new signed.
    setup.chain.mine();
    let report = sender.tick().await.unwrap();
    assert_eq!(confirmed(&report.events).len(), 3);
    sender.enqueue(request("commit", 3)).unwrap();
    setup
        .chain
        .fail_next_send(ChainError::NonceTooLow("nonce 3".into()));
    let report = sender.tick().await.unwrap();
    assert!(report.deferred.is_none());
    assert_eq!(sent(&report.events), vec![3]);
    let report = sender.tick().await.unwrap();
    assert!(
        matches!(
            report.events.as_slice(),
            [SenderEvent::Rebroadcast { nonce: 3, .. }]
        ),
        "the chain does not have it: the same bytes again, {:?}",
        report.events
    );
    assert_eq!(setup.signer.signed.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_reorged_transaction_goes_back_to_pending_and_lands_again() {
    let setup = Setup::new();
    setup.chain.mock.set_depths(1, 3);
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();
    sender.tick().await.unwrap();
    let mined_in = setup.chain.mine();
    assert_eq!(
        confirmed(&sender.tick().await.unwrap().events),
        vec![(0, Confirmation::Mined)]
    );

    setup.chain.reorg(1);
    let report = sender.tick().await.unwrap();
    let tx = setup.store().attempts(0).unwrap()[0].hash;
    assert!(
        report
            .events
            .contains(&SenderEvent::Reorged { nonce: 0, tx }),
        "{:?}",
        report.events
    );
    assert_eq!(state(&sender, 0), TxState::Unconfirmed);
    assert_eq!(
        setup.store().request(0).unwrap().unwrap().state,
        TxState::Unconfirmed
    );
    assert_eq!(sender.status().in_flight, 1);

    setup.chain.mine(); // the mock mines it again, in a new block
    assert_eq!(
        confirmed(&sender.tick().await.unwrap().events),
        vec![(0, Confirmation::Mined)]
    );
    let TxState::Included(inclusion) = state(&sender, 0) else {
        panic!("mined again")
    };
    assert_ne!(inclusion.block_hash, mined_in.hash);
    setup.chain.advance(3);
    assert_eq!(
        confirmed(&sender.tick().await.unwrap().events),
        vec![(0, Confirmation::Finalized)]
    );
    assert_eq!(setup.chain.accepted_per_nonce()[&0], 1);
    assert_eq!(setup.chain.mined_per_nonce()[&0], vec![tx]);
}

#[tokio::test]
async fn the_first_nonce_follows_the_chain_and_the_store() {
    let setup = Setup::new();
    setup.chain.mock.set_nonce(setup.config.sender, 7);
    let mut sender = setup.open().await;
    assert_eq!(sender.enqueue(request("commit", 1)).unwrap(), TxId(7));
    assert_eq!(sender.enqueue(request("commit", 2)).unwrap(), TxId(8));
    drop(sender);
    // The chain's nonce is behind what is stored: the store wins.
    let mut sender = setup.open().await;
    assert_eq!(sender.enqueue(request("commit", 3)).unwrap(), TxId(9));
    sender.tick().await.unwrap();
    setup.chain.mine();
    sender.tick().await.unwrap();
    setup.chain.mine();
    sender.tick().await.unwrap();
    assert_eq!(
        setup
            .chain
            .accepted()
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
    assert_eq!(sender.status().unfinalized, 0);
}

#[tokio::test]
async fn open_refuses_another_chain_or_key_and_requests_above_the_gas_cap() {
    let setup = Setup::new();
    let mut config = setup.config.clone();
    config.chain_id = 1;
    assert!(matches!(
        setup.open_with(config).await,
        Err(SenderError::WrongChain {
            expected: 1,
            actual: CHAIN_ID
        })
    ));
    let mut config = setup.config.clone();
    config.sender = Address::repeat_byte(9);
    assert!(matches!(
        setup.open_with(config).await,
        Err(SenderError::WrongSigner { .. })
    ));
    let mut config = setup.config.clone();
    config.bump_percent = 5;
    assert!(matches!(
        setup.open_with(config).await,
        Err(SenderError::Config(_))
    ));

    let mut sender = setup.open().await;
    let too_big = NewTx::call("commit", CONTRACT, vec![1]).with_gas_limit(16_000_000);
    assert!(matches!(
        sender.enqueue(too_big),
        Err(SenderError::InvalidRequest(_))
    ));
    // Without a limit, the estimate plus the margin is used.
    setup.chain.mock.set_gas_estimate(100_000);
    sender
        .enqueue(NewTx::call("commit", CONTRACT, vec![1]).with_value(U256::from(5)))
        .unwrap();
    sender.tick().await.unwrap();
    let (_, tx) = decode(&setup.store().attempts(0).unwrap()[0].raw);
    assert_eq!((tx.gas_limit, tx.value), (120_000, U256::from(5)));
}

#[tokio::test]
async fn senders_sharing_a_store_keep_to_their_own_rows() {
    let setup = Setup::new();
    let other_key = LocalSigner::from_bytes(&[0x43; 32]).unwrap();
    let other_address = other_key.address();
    let mut other_config = setup.config.clone();
    other_config.sender = other_address;
    other_config.chain = "l1-prover".into();
    let mut a = setup.open().await;
    let mut b = DurableSender::open(
        setup.storage.clone() as Arc<dyn Storage>,
        Arc::new(setup.chain.clone()),
        Arc::new(other_key),
        other_config,
    )
    .await
    .unwrap();
    assert_eq!(a.enqueue(request("commit", 1)).unwrap(), TxId(0));
    assert_eq!(b.enqueue(request("prove", 2)).unwrap(), TxId(0));
    assert_eq!(b.enqueue(request("prove", 3)).unwrap(), TxId(1));
    a.tick().await.unwrap();
    b.tick().await.unwrap();
    setup.chain.mine();
    assert_eq!(confirmed(&a.tick().await.unwrap().events).len(), 1);
    assert_eq!(confirmed(&b.tick().await.unwrap().events).len(), 2);
    let b_store = SenderStore::new(setup.storage.clone(), CHAIN_ID, other_address);
    assert_eq!(setup.store().requests_from(0).unwrap().len(), 1);
    assert_eq!(b_store.requests_from(0).unwrap().len(), 2);
    assert_eq!(b_store.request(0).unwrap().unwrap().label, "prove");
    // An operator lists both senders from the store alone.
    let mut both = vec![(CHAIN_ID, setup.config.sender), (CHAIN_ID, other_address)];
    both.sort();
    assert_eq!(manyfold_sender::senders_in(&*setup.storage).unwrap(), both);
    let senders: Vec<Address> = setup
        .chain
        .accepted()
        .iter()
        .map(|(_, h)| {
            let raw = setup
                .store()
                .attempts_between(0, 10)
                .unwrap()
                .into_iter()
                .chain(b_store.attempts_between(0, 10).unwrap())
                .find(|a| a.hash == *h)
                .unwrap()
                .raw;
            decode(&raw).0
        })
        .collect();
    assert_eq!(senders.iter().filter(|s| **s == other_address).count(), 2);
}

#[tokio::test]
async fn a_nonce_used_by_another_signer_stops_the_sender() {
    let setup = Setup::new();
    setup.chain.mock.set_depths(0, 2);
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();
    sender.tick().await.unwrap();
    // Someone else's transaction takes nonce 0 (the chain's nonce moves, ours never lands).
    setup.chain.advance(2);
    setup.chain.mock.set_nonce(setup.config.sender, 1);
    setup.chain.advance(1);
    sender.tick().await.unwrap();
    assert_eq!(
        state(&sender, 0),
        TxState::Unconfirmed,
        "not final yet: wait"
    );
    setup.chain.advance(1);
    // Final, and no receipt of ours: a lagging endpoint could miss a receipt once, so the
    // sender looks three times before it gives the request up.
    sender.tick().await.unwrap();
    sender.tick().await.unwrap();
    assert_eq!(state(&sender, 0), TxState::Unconfirmed);
    let err = sender.tick().await.unwrap_err();
    assert!(
        matches!(&err, SenderError::Stopped(r) if r.kind == StopKind::NonceUsedElsewhere),
        "{err}"
    );
    assert_eq!(
        setup.store().request(0).unwrap().unwrap().state,
        TxState::Lost
    );
    sender.clear_stop().unwrap();
    sender.tick().await.unwrap();
    assert_eq!(setup.store().meta().unwrap().final_below, 1);
}

#[tokio::test]
async fn a_receipt_missing_at_finality_for_a_tick_or_two_loses_nothing() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    sender.enqueue(request("commit", 1)).unwrap();
    sender.tick().await.unwrap();
    setup.chain.mine();
    // The endpoint's backend that answers receipts lags: our receipt is missing twice.
    setup.chain.hide_receipts(2);
    sender.tick().await.unwrap();
    sender.tick().await.unwrap();
    assert_eq!(state(&sender, 0), TxState::Unconfirmed, "not given up");
    let report = sender.tick().await.unwrap();
    assert_eq!(
        confirmed(&report.events),
        vec![(0, Confirmation::Finalized)]
    );
    assert!(sender.stopped().is_none());
}

#[tokio::test]
async fn an_absurd_chain_nonce_never_wraps_onto_stored_requests() {
    let setup = Setup::new();
    setup.chain.mock.set_nonce(setup.config.sender, u64::MAX);
    let mut sender = setup.open().await;
    let err = sender.enqueue(request("commit", 1)).unwrap_err();
    assert!(matches!(err, SenderError::InvalidRequest(_)), "{err}");
    assert!(setup.store().request(u64::MAX).unwrap().is_none());
    assert!(setup.store().request(0).unwrap().is_none());
}

#[test]
fn hashes_are_of_the_stored_bytes() {
    let signer = LocalSigner::from_bytes(&KEY).unwrap();
    let tx = manyfold_sender::TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 1,
        gas_limit: 21_000,
        max_fee_per_gas: 2,
        max_priority_fee_per_gas: 1,
        to: alloy_primitives::TxKind::Call(CONTRACT),
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let signed = signer.sign(&tx).unwrap();
    assert_eq!(signed.hash, alloy_primitives::keccak256(&signed.raw));
    assert_ne!(signed.hash, B256::ZERO);
}

/// The caller's rows land in the request's own commit: both or neither.
#[tokio::test]
async fn enqueue_with_commits_the_callers_rows_with_the_request() {
    use manyfold_storage::{StorageExt, Table, WriteBatch};
    struct Marks;
    impl Table for Marks {
        const NAME: &'static str = "test.marks";
        type Key = u64;
        type Value = u64;
    }
    let setup = Setup::new();
    let mut sender = setup.open().await;
    let rows = |id: TxId| {
        let mut batch = WriteBatch::new();
        batch.put::<Marks>(&7, &id.nonce());
        batch
    };

    setup.storage.fail_next_commits(1);
    assert!(sender.enqueue_with(request("commit", 1), rows).is_err());
    assert_eq!(setup.storage.get::<Marks>(&7).unwrap(), None, "neither");
    assert!(setup.store().request(0).unwrap().is_none());

    let id = sender.enqueue_with(request("commit", 1), rows).unwrap();
    assert_eq!(
        setup.storage.get::<Marks>(&7).unwrap(),
        Some(id.nonce()),
        "both"
    );
    assert!(setup.store().request(id.nonce()).unwrap().is_some());
}

/// A request whose estimate is above the gas cap is not signed with a cut limit (it
/// could only run out of gas and stop the pipeline): the tick says why and sends nothing.
#[tokio::test]
async fn an_estimate_above_the_gas_cap_is_not_sent() {
    let setup = Setup::new();
    let mut config = setup.config.clone();
    config.gas.max_gas_limit = 1_000_000;
    let mut sender = setup.open_with(config).await.unwrap();
    setup.chain.mock.set_gas_estimate(1_500_000);
    sender
        .enqueue(NewTx::call("prove", CONTRACT, vec![1u8; 4]))
        .unwrap();
    let err = sender.tick().await.unwrap_err();
    assert!(err.to_string().contains("1500000 gas"), "{err}");
    assert!(setup.chain.accepted().is_empty(), "nothing sent");
    setup.chain.mock.set_gas_estimate(800_000);
    let report = sender.tick().await.unwrap();
    assert_eq!(sent(&report.events), vec![0]);
}

#[tokio::test]
async fn a_request_the_contract_keeps_refusing_stops_the_sender_unsigned() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    let refusal = Bytes::from_static(&[0x09, 0xbd, 0xe3, 0x39]);
    setup.chain.mock.set_estimate_revert(Some(refusal.clone()));
    sender
        .enqueue(NewTx::call("prove 7 (chain 0)", CONTRACT, vec![1u8; 4]))
        .unwrap();
    // Refusals at one head count once, however many ticks see them within the spacing (a
    // stale backend answers the same); a stale answer or two at successive heads only
    // defers it.
    for _ in 0..10 {
        let report = sender.tick().await.unwrap();
        assert!(
            matches!(report.deferred, Some(ChainError::Reverted { .. })),
            "{report:?}"
        );
    }
    for _ in 2..setup.config.refusals_before_stop {
        setup.chain.mock.mine();
        assert!(sender.tick().await.unwrap().deferred.is_some());
    }
    setup.chain.mock.mine();
    let err = sender.tick().await.unwrap_err();
    let SenderError::Stopped(reason) = &err else {
        panic!("{err}")
    };
    assert_eq!(reason.label, "prove 7 (chain 0)");
    assert!(matches!(&reason.kind, StopKind::Refused { data, .. } if *data == refusal));
    assert!(setup.chain.accepted().is_empty(), "never signed nor sent");
    assert_eq!(state(&sender, 0), TxState::Unconfirmed);
    // The stop is durable, and nothing more is asked for or sent.
    let mut reopened = setup.open().await;
    assert!(matches!(
        reopened.tick().await,
        Err(SenderError::Stopped(_))
    ));
    assert!(reopened
        .enqueue(NewTx::call("execute 7 (chain 0)", CONTRACT, vec![2u8; 4]))
        .is_err());
    // The operator, with the node stopped, finds the request and the stop in the store
    // and clears it there (`manyfold sender status` / `clear`)...
    drop(reopened);
    let store = setup.store();
    let open: Vec<u64> = store
        .open_requests()
        .unwrap()
        .iter()
        .map(|t| t.nonce)
        .collect();
    assert_eq!(
        open,
        vec![0],
        "the refused request is open; the refused enqueue stored nothing"
    );
    assert_eq!(store.clear_stop().unwrap(), Some(reason.clone()));
    assert_eq!(store.clear_stop().unwrap(), None, "cleared once");
    // ...and on the next start the request (its nonce still free) is tried afresh: one more
    // refusal does not stop it again at once...
    let mut reopened = setup.open().await;
    assert!(reopened.tick().await.unwrap().deferred.is_some());
    // ...and it goes out when the contract accepts it.
    setup.chain.mock.set_estimate_revert(None);
    let report = reopened.tick().await.unwrap();
    assert_eq!(sent(&report.events), vec![0]);
}

#[tokio::test]
async fn a_revert_while_an_earlier_request_is_unmined_only_defers() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    sender
        .enqueue(NewTx::call("commit 1 (chain 0)", CONTRACT, vec![1u8; 4]))
        .unwrap();
    sender.tick().await.unwrap();
    // The next one reverts until the commit is mined: never a refusal.
    setup
        .chain
        .mock
        .set_estimate_revert(Some(Bytes::from_static(&[1, 2, 3, 4])));
    sender
        .enqueue(NewTx::call("prove 1 (chain 0)", CONTRACT, vec![2u8; 4]))
        .unwrap();
    for _ in 0..setup.config.refusals_before_stop * 3 {
        let report = sender.tick().await.unwrap();
        assert!(report.deferred.is_some());
    }
    setup.chain.mock.set_estimate_revert(None);
    setup.chain.mock.mine();
    let report = sender.tick().await.unwrap();
    assert_eq!(sent(&report.events), vec![1]);
}

#[tokio::test]
async fn on_a_chain_whose_head_stands_still_refusals_count_once_per_spacing() {
    let setup = Setup::new();
    let mut config = setup.config.clone();
    config.refusal_spacing_ms = 20;
    let mut sender = setup.open_with(config.clone()).await.unwrap();
    setup
        .chain
        .mock
        .set_estimate_revert(Some(Bytes::from_static(&[1, 2, 3, 4])));
    sender
        .enqueue(NewTx::call("execute 3 (chain 1)", CONTRACT, vec![1u8; 4]))
        .unwrap();
    // No block is mined: only time separates the refusals.
    let mut stopped = false;
    for _ in 0..50 {
        match sender.tick().await {
            Ok(report) => assert!(report.deferred.is_some()),
            Err(SenderError::Stopped(_)) => {
                stopped = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(stopped, "three refusals, spaced, stop it");
    assert!(setup.chain.accepted().is_empty());
}

#[tokio::test]
async fn a_dropped_refused_request_and_those_after_it_use_their_nonces_for_nothing() {
    let setup = Setup::new();
    let mut sender = setup.open().await;
    let refusal = Bytes::from_static(&[0x09, 0xbd, 0xe3, 0x39]);
    setup.chain.mock.set_estimate_revert(Some(refusal));
    // A proof the contract refuses, and two requests asked for behind it.
    sender
        .enqueue(NewTx::call("prove 7 (chain 0)", CONTRACT, vec![1u8; 4]))
        .unwrap();
    sender
        .enqueue(NewTx::call("prove 9 (chain 0)", CONTRACT, vec![2u8; 4]))
        .unwrap();
    sender.enqueue(request("commit 10 (chain 0)", 3)).unwrap();
    let mut stopped = None;
    for _ in 0..=setup.config.refusals_before_stop {
        setup.chain.mock.mine();
        if let Err(SenderError::Stopped(reason)) = sender.tick().await {
            stopped = Some(reason);
            break;
        }
    }
    assert_eq!(stopped.unwrap().nonce, 0);
    drop(sender);

    // Only a refusal can be dropped, and only while it stops the sender.
    let store = setup.store();
    let dropped = store.drop_refused().unwrap();
    let labels: Vec<&str> = dropped.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "prove 7 (chain 0)",
            "prove 9 (chain 0)",
            "commit 10 (chain 0)"
        ]
    );
    assert!(dropped.iter().all(|t| !t.dropped), "returned as they were");
    assert_eq!(
        store.meta().unwrap().stopped,
        None,
        "the stop is cleared with it"
    );
    assert!(matches!(
        store.drop_refused(),
        Err(SenderError::InvalidRequest(_))
    ));
    for (nonce, original) in dropped.iter().enumerate() {
        let tx = store.request(nonce as u64).unwrap().unwrap();
        assert!(tx.dropped);
        assert_eq!(tx.label, format!("dropped: {}", original.label));
        assert_eq!(
            (tx.to, tx.calldata.len(), tx.value, tx.gas_limit),
            (Some(setup.config.sender), 0, U256::ZERO, None),
            "a transfer to itself, its gas estimated"
        );
    }

    // A filler the chain refuses too (an operator account whose code reverts) stops the
    // sender again; dropped again, it keeps one prefix, so its caller still knows it.
    let mut sender = setup.open().await;
    let mut stopped = false;
    for _ in 0..=setup.config.refusals_before_stop {
        setup.chain.mock.mine();
        if let Err(SenderError::Stopped(_)) = sender.tick().await {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "the refused filler stops the sender");
    drop(sender);
    store.drop_refused().unwrap();
    for original in &dropped {
        let tx = store.request(original.nonce).unwrap().unwrap();
        assert_eq!(tx.label, format!("dropped: {}", original.label));
    }

    // On the next start the nonces go out as transfers to the sender itself, and what is
    // asked for next follows them.
    setup.chain.mock.set_estimate_revert(None);
    setup.chain.mock.set_gas_estimate(21_000);
    let mut sender = setup.open().await;
    let next = sender.enqueue(request("prove 7 (chain 0)", 4)).unwrap();
    assert_eq!(next, TxId(3));
    let mut sent_nonces = Vec::new();
    for _ in 0..4 {
        sent_nonces.extend(sent(&sender.tick().await.unwrap().events));
        setup.chain.mine();
    }
    assert_eq!(sent_nonces, vec![0, 1, 2, 3]);
    for (_, hash) in setup.chain.accepted().iter().take(3) {
        let raw = (0..3)
            .flat_map(|n| setup.store().attempts(n).unwrap())
            .find(|a| a.hash == *hash)
            .unwrap()
            .raw;
        let (_, tx) = decode(&raw);
        assert_eq!(tx.to, TxKind::Call(setup.config.sender));
        assert!(tx.input.is_empty());
        assert_eq!(tx.gas_limit, setup.config.gas.limit_for(21_000));
    }
}
