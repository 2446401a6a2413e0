//! Bad input over RPC gets the right error code and changes nothing.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::*;
use jsonrpsee::core::client::Error as ClientError;
use jsonrpsee_http_client::HttpClient;
use manyfold_rpc::api::{AccountRef, AccountView, BlockTag, ManyfoldApiClient};
use manyfold_rpc::errors::codes;
use manyfold_state::testing::User;
use manyfold_types::{AccountId, Amount, L2Tx, Nonce, Transfer, TxStatus};

/// Posts `body` as raw HTTP and returns (status code, body).
fn post(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // The server may answer (413) before reading the whole body and close the socket.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

fn code_of(body: &str) -> i64 {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    value["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

fn call_code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> i32 {
    match result {
        Err(ClientError::Call(e)) => e.code(),
        other => panic!("expected a call error, got {other:?}"),
    }
}

async fn snapshot(client: &HttpClient) -> (Vec<Option<AccountView>>, u32) {
    let mut accounts = Vec::new();
    for id in 0..3 {
        accounts.push(
            client
                .get_account(AccountRef::Id(AccountId::new(id).unwrap()), Some(true))
                .await
                .unwrap(),
        );
    }
    let height = client
        .get_block_by_number(BlockTag::Latest)
        .await
        .unwrap()
        .unwrap()
        .number;
    (accounts, height)
}

#[test]
fn bad_requests_get_their_error_codes_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut config = test_config(dir.path());
        config.rpc.max_request_bytes = 4096;
        config.rpc.max_batch_len = 4;
        let node = manyfold_node::start(&config).await.unwrap();
        let addr = node.rpc_addr;
        let client = http(addr);
        let alice = User::from_seed(1);
        let bob = User::from_seed(2);
        let ids = fund(&client, &[(&alice, 100), (&bob, 1)], 0).await;
        let (a, b) = (ids[0], ids[1]);
        submit(&client, register_key(&alice, a, 0)).await;
        let first = client
            .send_transaction(transfer(&alice, a, b, 10, 1))
            .await
            .unwrap();
        assert_eq!(receipt(&client, first).await.status, TxStatus::Included);
        let before = snapshot(&client).await;

        // Protocol-level errors, answered by jsonrpsee itself.
        let (_, body) = tokio::task::spawn_blocking(move || {
            post(addr, br#"{"jsonrpc":"2.0","id":1,"method":"#)
        })
        .await
        .unwrap();
        assert_eq!(code_of(&body), -32700, "malformed JSON");
        let (_, body) = tokio::task::spawn_blocking(move || {
            post(
                addr,
                br#"{"jsonrpc":"2.0","id":1,"method":"manyfold_mint","params":[]}"#,
            )
        })
        .await
        .unwrap();
        assert_eq!(code_of(&body), -32601, "unknown method");
        let bad_params = br#"{"jsonrpc":"2.0","id":1,"method":"manyfold_sendTransaction","params":[{"type":"transfer","from":"zz"}]}"#;
        let (_, body) = tokio::task::spawn_blocking(move || post(addr, bad_params))
            .await
            .unwrap();
        assert_eq!(code_of(&body), -32602, "bad params");
        let huge = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"manyfold_chains","params":["{}"]}}"#,
            "a".repeat(8192)
        );
        let (status, _) = tokio::task::spawn_blocking(move || post(addr, huge.as_bytes()))
            .await
            .unwrap();
        assert_eq!(status, 413, "oversized request");
        let batch = format!(
            "[{}]",
            [r#"{"jsonrpc":"2.0","id":1,"method":"manyfold_chains","params":[]}"#; 5].join(",")
        );
        let (_, body) = tokio::task::spawn_blocking(move || post(addr, batch.as_bytes()))
            .await
            .unwrap();
        assert!(
            body.contains("-32010") || body.to_lowercase().contains("batch"),
            "oversized batch: {body}"
        );

        // Application errors.
        let by_bob = L2Tx::Transfer(
            Transfer {
                from: AccountId::new(a).unwrap(),
                to: AccountId::new(b).unwrap(),
                token: token(),
                amount: Amount(1),
                nonce: Nonce(2),
            }
            .sign(&bob.l2),
        );
        assert_eq!(
            call_code(client.send_transaction(by_bob).await),
            codes::BAD_SIGNATURE,
            "signed by another key"
        );
        let mut forged = transfer(&alice, a, b, 1, 2);
        if let L2Tx::Transfer(t) = &mut forged {
            t.body.amount = Amount(90);
        }
        assert_eq!(
            call_code(client.send_transaction(forged).await),
            codes::BAD_SIGNATURE,
            "body changed after signing"
        );
        assert_eq!(
            call_code(client.send_transaction(transfer(&alice, a, b, 10, 1)).await),
            codes::BAD_NONCE,
            "replayed nonce"
        );
        assert_eq!(
            call_code(client.send_transaction(transfer(&alice, a, b, 5, 1)).await),
            codes::BAD_NONCE,
            "used nonce, other body"
        );
        assert_eq!(
            call_code(client.send_transaction(transfer(&alice, a, b, 5, 9)).await),
            codes::BAD_NONCE,
            "nonce gap"
        );
        assert_eq!(
            call_code(client.send_transaction(transfer(&alice, a, b, 91, 2)).await),
            codes::INSUFFICIENT_FUNDS,
            "overdraw"
        );
        assert_eq!(
            call_code(
                client
                    .send_transaction(transfer(&alice, a, b, u128::MAX, 2))
                    .await
            ),
            codes::INSUFFICIENT_FUNDS,
            "overflow-sized amount"
        );
        assert_eq!(
            call_code(client.send_transaction(transfer(&alice, a, 77, 1, 2)).await),
            codes::UNKNOWN_ACCOUNT
        );
        assert_eq!(
            call_code(client.send_transaction(transfer(&alice, a, a, 1, 2)).await),
            codes::INVALID_OP,
            "self transfer"
        );
        assert_eq!(
            call_code(client.send_transaction(transfer(&bob, b, a, 1, 0)).await),
            codes::BAD_SIGNATURE,
            "no key registered"
        );
        assert_eq!(
            call_code(client.send_raw_transaction(vec![2, 0, 1].into()).await),
            codes::INVALID_TRANSACTION,
            "truncated raw tx"
        );
        assert_eq!(
            call_code(client.submit_priority_op(deposit(&alice, 0, 5)).await),
            codes::DUPLICATE,
            "consumed priority op"
        );
        assert_eq!(
            call_code(client.submit_priority_op(deposit(&alice, 9, 5)).await),
            codes::INVALID_OP,
            "priority gap"
        );

        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            snapshot(&client).await,
            before,
            "bad input changed the state or sealed a block"
        );
        node.stop().await;
    });
}

#[test]
fn a_full_mempool_refuses_with_its_limit_and_keeps_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut config = test_config(dir.path());
        config.mempool.max_txs = 2;
        let node = manyfold_node::start(&config).await.unwrap();
        let client = http(node.rpc_addr);
        let alice = User::from_seed(1);
        let bob = User::from_seed(2);
        let a = fund(&client, &[(&alice, 100), (&bob, 1)], 0).await[0];
        submit(&client, register_key(&alice, a, 0)).await;
        node.stop().await;
    });
    // Restart with blocks that never seal, so the pool fills up.
    let dir_path = dir.path().to_path_buf();
    run(async move {
        let mut config = test_config(&dir_path);
        config.mempool.max_txs = 2;
        config.block.max_block_time_ms = 600_000;
        let node = manyfold_node::start(&config).await.unwrap();
        let client = http(node.rpc_addr);
        let alice = User::from_seed(1);
        client
            .send_transaction(transfer(&alice, 0, 1, 1, 1))
            .await
            .unwrap();
        client
            .send_transaction(transfer(&alice, 0, 1, 1, 2))
            .await
            .unwrap();
        let refused = client.send_transaction(transfer(&alice, 0, 1, 1, 3)).await;
        match refused {
            Err(ClientError::Call(e)) => {
                assert_eq!(e.code(), codes::MEMPOOL_FULL);
                assert!(e.message().contains("2 transactions"), "{}", e.message());
            }
            other => panic!("expected mempool full, got {other:?}"),
        }
        node.stop().await;
    });
}
