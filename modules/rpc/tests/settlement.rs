//! Settlement progress as the API reports it: `getSettlementStatus` and
//! `getTransactionStatus` read the settler's stage records, and `subscribeStatus` forwards
//! sealed blocks and the settlement actors' stage announcements.

mod common;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::core::server::Subscription;
use manyfold_block_builder::BlockBuilder;
use manyfold_mempool::Candidate;
use manyfold_rpc::api::{ChainInfo, SettlementStatus, Stage, StatusChange};
use manyfold_rpc::{module, RpcContext};
use manyfold_settler::{
    ChainRole, Hold, HoldReason, HoldStore, Stage as Reached, StageChange, StageRecord, StageStore,
};
use manyfold_state::{L2State, SharedState};
use manyfold_storage::{MemoryStorage, Storage, WriteBatch};
use manyfold_types::{Amount, ChainId, ChainSet, Deposit, Op, PriorityOp, TokenId};
use serde_json::{json, Value};

/// Block 1's timestamp.
const SEALED_AT: u64 = 1_700_000_000;
/// The builder's clock in the tests that run it: block 2's timestamp.
const CLOCK: u64 = 1_700_000_500;
/// The transaction in block 1.
const TX: B256 = B256::repeat_byte(0x7a);

fn chain(id: u16) -> ChainId {
    ChainId::new(id).unwrap()
}

/// A primary (0) and a secondary (1).
fn chains() -> Vec<ChainInfo> {
    vec![
        ChainInfo {
            id: chain(0),
            name: "hub".into(),
            kind: "embedded".into(),
            primary: true,
            evm_chain_id: None,
            settlement: None,
            rpc_url: None,
            tokens: Vec::new(),
        },
        ChainInfo {
            id: chain(1),
            name: "side".into(),
            kind: "evm".into(),
            primary: false,
            evm_chain_id: None,
            settlement: None,
            rpc_url: None,
            tokens: Vec::new(),
        },
    ]
}

/// `0x` and 32 times `byte`, as the API writes a hash.
fn hash(byte: u8) -> String {
    format!("0x{}", format!("{byte:02x}").repeat(32))
}

/// A time as the API writes it.
fn quantity(value: u64) -> String {
    format!("{value:#x}")
}

/// A storage holding block 1, sealed at [`SEALED_AT`], whose one op has a receipt for
/// [`TX`] (a `Noop`, which applies without accounts or signatures).
fn sealed() -> (Arc<dyn Storage>, SharedState) {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let state = Arc::new(RwLock::new(L2State::new(ChainSet::local(2))));
    let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
    let block = builder
        .seal(
            &[Candidate {
                seq: 1,
                op: Op::Noop,
                tx_hash: Some(TX),
                priority: None,
            }],
            SEALED_AT,
        )
        .unwrap()
        .unwrap();
    assert_eq!(block.block.number, 1);
    (storage, state)
}

/// Records `stage` for `block` on `chain` as a settlement actor does: into a batch, then
/// committed.
fn record(
    storage: &Arc<dyn Storage>,
    block: u32,
    chain_id: u16,
    role: ChainRole,
    stage: Reached,
    tx: Option<u8>,
    at: u64,
) {
    let stages = StageStore::new(storage.clone());
    let mut batch = WriteBatch::new();
    stages
        .record(
            &mut batch,
            block,
            chain(chain_id),
            role,
            StageRecord {
                stage,
                tx: tx.map(B256::repeat_byte),
                at,
            },
        )
        .unwrap();
    storage.commit(batch).unwrap();
}

fn block_hash(context: &RpcContext, number: u32) -> String {
    format!(
        "{:#x}",
        context.blocks.block(number).unwrap().unwrap().hash()
    )
}

async fn call(context: &RpcContext, method: &str, param: &str) -> Value {
    module(context.clone())
        .call::<_, Value>(method, [param])
        .await
        .unwrap()
}

#[test]
fn an_unknown_block_has_no_status_and_a_sealed_one_is_sealed_everywhere() {
    actix_rt::System::new().block_on(async {
        let (storage, state) = sealed();
        let context = common::context(storage, state, chains(), true, CLOCK);
        assert_eq!(
            call(&context, "manyfold_getSettlementStatus", "0x9").await,
            Value::Null
        );
        let expected = json!({
            "number": "0x1",
            "hash": block_hash(&context, 1),
            "chains": [
                {"chain": "0x0", "primary": true, "stage": "sealed", "stages": []},
                {"chain": "0x1", "primary": false, "stage": "sealed", "stages": []},
            ],
        });
        assert_eq!(
            call(&context, "manyfold_getSettlementStatus", "0x1").await,
            expected
        );
        // A node that settles nowhere has no records to read: the same answer.
        let nowhere = RpcContext {
            stages: None,
            stage_events: None,
            holds: None,
            ..context.clone()
        };
        assert_eq!(
            call(&nowhere, "manyfold_getSettlementStatus", "0x1").await,
            expected
        );
    });
}

#[test]
fn recorded_stages_come_back_with_their_transactions_and_times() {
    actix_rt::System::new().block_on(async {
        let (storage, state) = sealed();
        use ChainRole::*;
        record(&storage, 1, 0, Primary, Reached::Committed, Some(0xc1), SEALED_AT + 10);
        record(&storage, 1, 0, Primary, Reached::Proven, Some(0xc2), SEALED_AT + 20);
        // The primary's block synced by the secondaries' hashes arriving: no tx of ours.
        record(&storage, 1, 0, Primary, Reached::Synced, None, SEALED_AT + 30);
        record(&storage, 1, 1, Secondary, Reached::Committed, Some(0xd1), SEALED_AT + 15);
        // A chain the node is not configured with is not reported; nor is another block.
        record(&storage, 1, 2, Secondary, Reached::Committed, Some(0xe1), SEALED_AT + 16);
        record(&storage, 0, 1, Secondary, Reached::Committed, Some(0xe2), SEALED_AT + 17);
        let context = common::context(storage, state, chains(), true, CLOCK);

        let expected = json!({
            "number": "0x1",
            "hash": block_hash(&context, 1),
            "chains": [
                {
                    "chain": "0x0",
                    "primary": true,
                    "stage": "synced",
                    "stages": [
                        {"stage": "committed", "txHash": hash(0xc1), "at": quantity(SEALED_AT + 10)},
                        {"stage": "proven", "txHash": hash(0xc2), "at": quantity(SEALED_AT + 20)},
                        {"stage": "synced", "txHash": null, "at": quantity(SEALED_AT + 30)},
                    ],
                },
                {
                    "chain": "0x1",
                    "primary": false,
                    "stage": "committed",
                    "stages": [
                        {"stage": "committed", "txHash": hash(0xd1), "at": quantity(SEALED_AT + 15)},
                    ],
                },
            ],
        });
        assert_eq!(
            call(&context, "manyfold_getSettlementStatus", "0x1").await,
            expected
        );
        assert_eq!(
            call(&context, "manyfold_getSettlementStatus", "latest").await,
            expected
        );
        // The Rust types read what the server writes.
        let typed: SettlementStatus = serde_json::from_value(expected).unwrap();
        assert_eq!(typed.chains[0].stage, Stage::Synced);
        assert_eq!(typed.chains[0].stages[1].tx_hash, Some(B256::repeat_byte(0xc2)));
        assert_eq!(typed.chains[1].stages[0].at, SEALED_AT + 15);
    });
}

#[test]
fn a_held_chain_shows_its_hold_on_every_block_of_its_own_it_has_not_executed() {
    actix_rt::System::new().block_on(async {
        let (storage, state) = sealed();
        // Block 2 carries a deposit on chain 1; block 1 (a Noop) nothing of it.
        let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
        let deposit = Candidate {
            seq: 2,
            op: Op::Deposit(Deposit {
                chain: chain(1),
                serial_id: 0,
                address: Address::repeat_byte(0x0e),
                token: TokenId::new(0).unwrap(),
                amount: Amount(700),
            }),
            tx_hash: None,
            priority: None,
        };
        builder.seal(&[deposit], SEALED_AT + 1).unwrap().unwrap();
        use ChainRole::*;
        record(
            &storage,
            2,
            1,
            Secondary,
            Reached::Committed,
            Some(0xd1),
            SEALED_AT + 15,
        );
        let holds = HoldStore::new(storage.clone());
        let hold = Hold {
            reason: HoldReason::ChainUnreachable,
            from_block: 1,
            detail: "chain `alpha`: connection refused".into(),
            since: SEALED_AT + 40,
        };
        holds.hold(chain(1), &hold).unwrap();
        let context = common::context(storage.clone(), state, chains(), true, CLOCK);
        let status = call(&context, "manyfold_getSettlementStatus", "0x2").await;
        assert!(
            status["chains"][0].get("held").is_none(),
            "the primary is not held"
        );
        assert_eq!(
            status["chains"][1]["held"],
            json!({
                "reason": "chain_unreachable",
                "fromBlock": "0x1",
                "detail": "chain `alpha`: connection refused",
                "since": quantity(SEALED_AT + 40),
            })
        );
        let typed: SettlementStatus = serde_json::from_value(status).unwrap();
        assert_eq!(
            typed.chains[1].held.as_ref().unwrap().reason,
            HoldReason::ChainUnreachable
        );
        // Block 1 has nothing for chain 1: its hold says nothing of it.
        let status = call(&context, "manyfold_getSettlementStatus", "0x1").await;
        assert!(status["chains"][1].get("held").is_none(), "{status}");

        // A block the chain executed is not held; nor is one below the hold.
        for stage in [Reached::Synced, Reached::Confirmed, Reached::Executed] {
            record(&storage, 2, 1, Secondary, stage, Some(0xd2), SEALED_AT + 50);
        }
        let status = call(&context, "manyfold_getSettlementStatus", "0x2").await;
        assert!(status["chains"][1].get("held").is_none(), "{status}");

        // The primary's hold covers every block, and lifted it is gone.
        holds
            .hold(
                chain(0),
                &Hold {
                    from_block: 1,
                    ..hold.clone()
                },
            )
            .unwrap();
        let status = call(&context, "manyfold_getSettlementStatus", "0x1").await;
        assert_eq!(status["chains"][0]["held"]["reason"], "chain_unreachable");
        holds.lift(chain(0)).unwrap();
        let status = call(&context, "manyfold_getSettlementStatus", "0x1").await;
        assert!(status["chains"][0].get("held").is_none());
    });
}

#[test]
fn a_transaction_status_is_its_receipt_and_its_blocks_settlement() {
    actix_rt::System::new().block_on(async {
        let (storage, state) = sealed();
        record(
            &storage,
            1,
            1,
            ChainRole::Secondary,
            Reached::Committed,
            Some(0xd1),
            SEALED_AT + 15,
        );
        let context = common::context(storage, state, chains(), true, CLOCK);
        assert_eq!(
            call(&context, "manyfold_getTransactionStatus", &hash(0x7a)).await,
            json!({
                "receipt": {
                    "txHash": hash(0x7a),
                    "blockNumber": "0x1",
                    "index": "0x0",
                    "status": "included",
                    "error": null,
                },
                "settlement": {
                    "number": "0x1",
                    "hash": block_hash(&context, 1),
                    "chains": [
                        {"chain": "0x0", "primary": true, "stage": "sealed", "stages": []},
                        {
                            "chain": "0x1",
                            "primary": false,
                            "stage": "committed",
                            "stages": [
                                {"stage": "committed", "txHash": hash(0xd1), "at": quantity(SEALED_AT + 15)},
                            ],
                        },
                    ],
                },
            })
        );
        assert_eq!(
            call(&context, "manyfold_getTransactionStatus", &hash(0x7b)).await,
            Value::Null
        );
    });
}

/// The next notification, within ten seconds.
async fn next(subscription: &mut Subscription) -> Value {
    tokio::time::timeout(Duration::from_secs(10), subscription.next::<Value>())
        .await
        .expect("a status notification")
        .unwrap()
        .unwrap()
        .0
}

#[test]
fn subscribers_get_each_sealed_block_and_each_stage_change_once() {
    actix_rt::System::new().block_on(async {
        let (storage, state) = sealed();
        let context = common::context(storage, state, chains(), true, CLOCK);
        let events = context.stage_events.clone().unwrap();
        let mut statuses = module(context.clone())
            .subscribe_unbounded("manyfold_subscribeStatus", ArrayParams::new())
            .await
            .unwrap();

        events
            .send(StageChange {
                block: 1,
                chain: chain(1),
                record: StageRecord {
                    stage: Reached::Committed,
                    tx: Some(B256::repeat_byte(0xd1)),
                    at: SEALED_AT + 15,
                },
            })
            .unwrap();
        assert_eq!(
            next(&mut statuses).await,
            json!({
                "number": "0x1",
                "chain": "0x1",
                "stage": "committed",
                "txHash": hash(0xd1),
                "at": quantity(SEALED_AT + 15),
            })
        );

        // A deposit gets block 2 sealed, at the builder's clock.
        context
            .mempool
            .submit_priority(PriorityOp::Deposit(Deposit {
                chain: chain(0),
                serial_id: 0,
                address: Address::repeat_byte(0x11),
                token: TokenId::new(0).unwrap(),
                amount: Amount(1_000),
            }))
            .await
            .unwrap();
        let sealed = next(&mut statuses).await;
        assert_eq!(
            sealed,
            json!({
                "number": "0x2",
                "chain": null,
                "stage": "sealed",
                "txHash": null,
                "at": quantity(CLOCK),
            })
        );
        assert_eq!(
            serde_json::from_value::<StatusChange>(sealed).unwrap(),
            StatusChange {
                number: 2,
                chain: None,
                stage: Stage::Sealed,
                tx_hash: None,
                at: CLOCK,
            }
        );

        events
            .send(StageChange {
                block: 2,
                chain: chain(0),
                record: StageRecord {
                    stage: Reached::Synced,
                    tx: None,
                    at: CLOCK + 40,
                },
            })
            .unwrap();
        assert_eq!(
            next(&mut statuses).await,
            json!({
                "number": "0x2",
                "chain": "0x0",
                "stage": "synced",
                "txHash": null,
                "at": quantity(CLOCK + 40),
            })
        );
        // Nothing is announced twice.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), statuses.next::<Value>())
                .await
                .is_err()
        );
    });
}

/// Exit proofs are against the primary's last executed block, not the node's current
/// state: a deposit sealed after it is not in them, and they verify against that block's
/// root.
#[test]
fn exit_proofs_are_at_the_primarys_last_executed_block() {
    actix_rt::System::new().block_on(async {
        let (storage, state) = sealed();
        let owner = Address::repeat_byte(0x0e);
        let deposit = |serial_id: u64, amount: u128| Candidate {
            seq: serial_id + 2,
            op: Op::Deposit(Deposit {
                chain: chain(1),
                serial_id,
                address: owner,
                token: TokenId::new(0).unwrap(),
                amount: Amount(amount),
            }),
            tx_hash: None,
            priority: None,
        };
        let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
        builder
            .seal(&[deposit(0, 700)], SEALED_AT + 1)
            .unwrap()
            .unwrap();
        builder
            .seal(&[deposit(1, 5)], SEALED_AT + 2)
            .unwrap()
            .unwrap();
        let context = common::context(storage.clone(), state, chains(), true, CLOCK);
        let exit = |ctx: RpcContext| async move {
            module(ctx)
                .call::<_, Value>("manyfold_getExitProof", [format!("{owner:#x}")])
                .await
                .unwrap()
        };
        // Nothing executed on the primary yet: no root to exit against.
        assert_eq!(exit(context.clone()).await, Value::Null);

        // The primary executed block 2 (the first deposit), not block 3.
        for block in [1, 2] {
            for stage in [
                Reached::Committed,
                Reached::Proven,
                Reached::Synced,
                Reached::Executed,
            ] {
                record(
                    &storage,
                    block,
                    0,
                    ChainRole::Primary,
                    stage,
                    Some(1),
                    CLOCK,
                );
            }
        }
        let proof = exit(context.clone()).await;
        assert_eq!(proof["block"], "0x2");
        let account = &proof["account"];
        assert_eq!(account["balances"], json!({"0x0": "0x2bc"}), "700, not 705");
        let root = context.blocks.block(2).unwrap().unwrap().state_root;
        assert_eq!(account["proof"]["stateRoot"], json!(root));
        assert_ne!(
            root,
            context.blocks.block(3).unwrap().unwrap().state_root,
            "the current root is another"
        );
        // The replica is kept, and follows when the primary executes further.
        for stage in [
            Reached::Committed,
            Reached::Proven,
            Reached::Synced,
            Reached::Executed,
        ] {
            record(&storage, 3, 0, ChainRole::Primary, stage, Some(1), CLOCK);
        }
        let proof = exit(context.clone()).await;
        assert_eq!(proof["block"], "0x3");
        assert_eq!(proof["account"]["balances"], json!({"0x0": "0x2c1"}));
        // An unknown account has no proof; a node settling nowhere says it has no root.
        let unknown = module(context.clone())
            .call::<_, Value>(
                "manyfold_getExitProof",
                [format!("{:#x}", Address::repeat_byte(1))],
            )
            .await
            .unwrap();
        assert_eq!(unknown, Value::Null);
        let nowhere = RpcContext {
            stages: None,
            ..context
        };
        assert!(module(nowhere)
            .call::<_, Value>("manyfold_getExitProof", [format!("{owner:#x}")])
            .await
            .is_err());
    });
}
