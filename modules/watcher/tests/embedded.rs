//! The watcher against a real Secondary contract on the in-process EVM chain: native
//! deposits by a dev account come out as the expected priority ops, serial 0 then 1.

use std::sync::Arc;

use alloy_consensus::{TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_sol_types::{SolCall, SolValue};
use manyfold_chain::Finality;
use manyfold_chain_embedded::{DevAccount, EmbeddedChain, EmbeddedConfig};
use manyfold_contracts::bindings::{Artifact, Secondary};
use manyfold_storage::{MemoryStorage, Storage};
use manyfold_types::{Amount, ChainId, ChainSet, Deposit, PriorityOp, TokenId};
use manyfold_watcher::{PriorityWatcher, WatcherConfig, WatcherEvent};

const EVM_CHAIN_ID: u64 = 31_337;
const PRIORITY_FEE: u64 = 1_000_000;
const NATIVE_TOKEN: u16 = 0;

/// Sends a transaction from `from` and checks that it succeeded.
fn send(
    chain: &EmbeddedChain,
    from: &DevAccount,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
) -> Option<Address> {
    let nonce = chain.pending_nonce(from.address);
    let tip = chain.suggested_tip();
    let tx = TxEip1559 {
        chain_id: EVM_CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: u128::from(chain.next_base_fee()) * 2 + tip,
        max_priority_fee_per_gas: tip,
        to,
        value,
        input,
        ..Default::default()
    };
    let raw = TxEnvelope::from(from.sign(tx)).encoded_2718();
    let hash = chain.send_raw(&raw).expect("accepted and mined");
    let receipt = chain.receipt(hash).unwrap().expect("mined at once");
    assert!(receipt.success, "transaction reverted: {receipt:?}");
    receipt.contract_address
}

/// Deploys a Secondary (rollup chain 1 of 2, primary 0) as `node/src/deploy.rs`'s plan
/// builds it, and registers the native coin as token 0.
fn deploy(chain: &EmbeddedChain, deployer: &DevAccount) -> Address {
    let root =
        manyfold_types::block::fr_to_b256(&manyfold_state::L2State::new(ChainSet::local(2)).root());
    let config = Secondary::SettlementConfig {
        chainId: 1,
        governor: deployer.address,
        operator: deployer.address,
        priorityExpiry: 3_600,
        attestationDomain: B256::repeat_byte(0x42),
        validators: vec![deployer.address],
        threshold: U256::from(1),
        genesisStateRoot: root,
        governanceDelay: 3_600,
        priorityFee: U256::from(PRIORITY_FEE),
        maxOpenPriorityRequests: 100,
    };
    let mut code = Artifact::Secondary.bytecode().to_vec();
    code.extend((config, 0u16).abi_encode_params());
    let contract = send(
        chain,
        deployer,
        TxKind::Create,
        U256::ZERO,
        code.into(),
        9_000_000,
    )
    .expect("a deployment creates a contract");
    let add = Secondary::addTokenCall {
        tokenId: NATIVE_TOKEN,
        token: Address::ZERO,
        decimals: 18,
        minDeposit: 1,
    };
    send(
        chain,
        deployer,
        TxKind::Call(contract),
        U256::ZERO,
        add.abi_encode().into(),
        200_000,
    );
    contract
}

fn deposit_native(
    chain: &EmbeddedChain,
    from: &DevAccount,
    contract: Address,
    owner: Address,
    amount: u64,
) {
    let call = Secondary::depositNativeCall { owner };
    send(
        chain,
        from,
        TxKind::Call(contract),
        U256::from(amount) + U256::from(PRIORITY_FEE),
        call.abi_encode().into(),
        300_000,
    );
}

async fn next_ops(watcher: &mut PriorityWatcher) -> Vec<PriorityOp> {
    match watcher.poll().await.unwrap() {
        WatcherEvent::Ops(batch) => {
            watcher.commit(&batch).unwrap();
            batch.ops
        }
        other => panic!("ops expected, got {other:?}"),
    }
}

#[tokio::test]
async fn native_deposits_come_out_as_priority_ops() {
    let chain_store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let chain =
        Arc::new(EmbeddedChain::open(chain_store, EmbeddedConfig::new(EVM_CHAIN_ID)).unwrap());
    let accounts = chain.dev_accounts().to_vec();
    let (deployer, user) = (&accounts[0], &accounts[1]);
    let contract = deploy(&chain, deployer);

    let rollup_chain = ChainId::new(1).unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut watcher = PriorityWatcher::open(
        storage.clone(),
        chain.clone(),
        WatcherConfig::new("embedded", rollup_chain, contract, Finality::Blocks(0)),
    )
    .unwrap();
    assert!(next_ops(&mut watcher).await.is_empty(), "deployment only");

    let owner = Address::repeat_byte(0x77);
    let amount = 1_234_567_890_123u64;
    deposit_native(&chain, user, contract, owner, amount);
    let expected = |serial_id, amount: u64| {
        PriorityOp::Deposit(Deposit {
            chain: rollup_chain,
            serial_id,
            address: owner,
            token: TokenId::new(NATIVE_TOKEN).unwrap(),
            // 18 local decimals: the L2 amount is the local one; the fee is not deposited.
            amount: Amount(u128::from(amount)),
        })
    };
    assert_eq!(next_ops(&mut watcher).await, [expected(0, amount)]);

    deposit_native(&chain, user, contract, owner, 5);
    assert_eq!(next_ops(&mut watcher).await, [expected(1, 5)]);
    assert_eq!(watcher.next_serial(), 2);

    // Reopened from the same storage: nothing handed out again.
    drop(watcher);
    let mut watcher = PriorityWatcher::open(
        storage,
        chain.clone(),
        WatcherConfig::new("embedded", rollup_chain, contract, Finality::Blocks(0)),
    )
    .unwrap();
    assert!(matches!(watcher.poll().await.unwrap(), WatcherEvent::Idle));
}
