//! Helpers shared by the node's integration tests: an in-process node on loopback, a
//! wallet of users, and polling helpers.
#![allow(dead_code, unreachable_pub)] // each test file uses its own subset; not a library

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_node::config::NodeConfig;
use manyfold_rpc::api::{ManyfoldApiClient, SettlementStatus};
use manyfold_state::testing::User;
use manyfold_types::ecdsa::sign_change_pubkey;
use manyfold_types::{
    AccountId, Amount, ChainId, ChangePubKey, Deposit, L2Tx, Nonce, PriorityOp, Receipt, TokenId,
    Transfer,
};

/// Runs `f` inside an actix system on a multi-threaded tokio runtime, as the binary does.
pub fn run<F: Future>(f: F) -> F::Output {
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    })
    .block_on(f)
}

/// A sequencing node without chains (deposits injected over RPC, a development switch
/// refused once chains are configured) on loopback port 0, metrics off, fast blocks.
pub fn test_config(data_dir: &Path) -> NodeConfig {
    let mut config = NodeConfig::default();
    config.dev.allow_priority_injection = true;
    config.data_dir = data_dir.to_path_buf();
    config.rpc.addr = "127.0.0.1:0".parse().unwrap();
    config.metrics.enabled = false;
    // Proving has its own test (proving.rs); elsewhere it would only slow the others down.
    config.prover.enabled = false;
    config.block.max_block_time_ms = 100;
    config.block.poll_interval_ms = 10;
    config
}

pub fn http(addr: std::net::SocketAddr) -> HttpClient {
    HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .unwrap()
}

pub fn token() -> TokenId {
    TokenId::new(0).unwrap()
}

pub fn chain() -> ChainId {
    ChainId::new(0).unwrap()
}

/// A deposit of `amount` for `user` as chain 0's request number `serial`.
pub fn deposit(user: &User, serial: u64, amount: u128) -> PriorityOp {
    PriorityOp::Deposit(Deposit {
        chain: chain(),
        serial_id: serial,
        address: user.address,
        token: token(),
        amount: Amount(amount),
    })
}

/// The ChangePubKey registering `user`'s L2 key on account `id`.
pub fn register_key(user: &User, id: u32, nonce: u32) -> L2Tx {
    let account = AccountId::new(id).unwrap();
    let pubkey_hash = user.l2.public_key().hash();
    L2Tx::ChangePubKey(ChangePubKey {
        account,
        chain: chain(),
        pubkey_hash,
        nonce: Nonce(nonce),
        eth_signature: sign_change_pubkey(
            // A node without chains settles a local chain set of one.
            manyfold_node::config::NodeConfig::default()
                .chain_set(None)
                .unwrap()
                .domain(chain())
                .unwrap(),
            &user.eth,
            pubkey_hash,
            Nonce(nonce),
            account,
        ),
    })
}

/// A signed transfer.
pub fn transfer(user: &User, from: u32, to: u32, amount: u128, nonce: u32) -> L2Tx {
    L2Tx::Transfer(
        Transfer {
            from: AccountId::new(from).unwrap(),
            to: AccountId::new(to).unwrap(),
            token: token(),
            amount: Amount(amount),
            nonce: Nonce(nonce),
        }
        .sign(&user.l2),
    )
}

/// Polls until `hash` has a receipt.
pub async fn receipt(client: &HttpClient, hash: B256) -> Receipt {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(receipt) = client.get_transaction_receipt(hash).await.unwrap() {
            return receipt;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `tx` and waits for its receipt.
pub async fn submit(client: &HttpClient, tx: L2Tx) -> Receipt {
    let hash = client.send_transaction(tx).await.unwrap();
    receipt(client, hash).await
}

/// Polls until the account of `user` exists, returning its id.
pub async fn account_of(client: &HttpClient, user: &User) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let account = manyfold_rpc::api::AccountRef::Address(user.address);
        if let Some(view) = client.get_account(account, None).await.unwrap() {
            return view.id.get();
        }
        assert!(Instant::now() < deadline, "no account for {}", user.address);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The latest block's settlement status (its number and hash).
pub async fn latest(client: &HttpClient) -> SettlementStatus {
    client
        .get_settlement_status(manyfold_rpc::api::BlockTag::Latest)
        .await
        .unwrap()
        .unwrap()
}

/// Deposits `amount` for each user (chain 0, serial ids from `first_serial` on, in order)
/// and waits for their accounts; returns their ids.
pub async fn fund(client: &HttpClient, users: &[(&User, u128)], first_serial: u64) -> Vec<u32> {
    for (i, (user, amount)) in users.iter().enumerate() {
        client
            .submit_priority_op(deposit(user, first_serial + i as u64, *amount))
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for (user, _) in users {
        ids.push(account_of(client, user).await);
    }
    ids
}
