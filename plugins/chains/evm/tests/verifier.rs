//! `verifies_proofs = true`: an `evm` chain may be the primary only if it has the verifier
//! precompile, which the factory checks against the chain. anvil has none (refused), nor
//! does an anvil with a contract at the precompile's address (refused); a stand-in endpoint
//! that answers at `0x…F01D` as the precompile documents (no code, the word 0 for a
//! malformed input) is accepted and reports the capability. (The real precompile, in
//! `manyfold chain`, is checked the same way by the node's exodus test.) Also: reading a
//! transaction's calldata back, which exodus exits rely on.

mod common;

use std::sync::Arc;

use alloy_primitives::{hex, Bytes};
use common::*;
use manyfold_chain::{ChainRegistry, ChainSpec};
use manyfold_chain_evm::{factory, VERIFIER_PRECOMPILE};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A built chain (the trait object has no `Debug` for `unwrap_err`).
struct Built(Arc<dyn manyfold_chain::Chain>);

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a built chain")
    }
}

fn spec(name: &str, url: &url::Url) -> ChainSpec {
    let value = json!({"kind": "evm", "id": 0, "primary": true, "finality": 0,
                       "url": url.as_str(), "verifies_proofs": true,
                       "request_timeout_ms": 2000, "max_retries": 0});
    ChainSpec::parse(name, &value).unwrap()
}

/// Builds a primary at `url` through the registry, off the runtime (the factory blocks
/// while it checks the endpoint, which may be a stand-in served by this runtime); the
/// error's text when it is refused.
async fn build(url: &url::Url) -> Result<Built, String> {
    let spec = spec("primary", url);
    tokio::task::spawn_blocking(move || {
        let mut registry = ChainRegistry::new();
        registry
            .register(manyfold_chain_evm::KIND, factory())
            .unwrap();
        registry
            .build(&spec)
            .map(|built| Built(built.chain))
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

/// An endpoint in front of anvil that answers at the precompile's address with `word`
/// (hex, no 0x) to every call, and with no code.
async fn stand_in(anvil_url: url::Url, word: String) -> url::Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (anvil_url, word) = (anvil_url.clone(), word.clone());
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    let request: Value = serde_json::from_slice(&body).unwrap();
                    let reply = answer(&anvil_url, &word, request).await.to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        reply.len()
                    );
                    let stream = stream.get_mut();
                    stream.write_all(head.as_bytes()).await.unwrap();
                    stream.write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    url
}

async fn answer(anvil_url: &url::Url, word: &str, request: Value) -> Value {
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let params = request["params"].clone();
    let at_precompile = params[0]["to"]
        .as_str()
        .or(params[0].as_str())
        .map(|a| a.parse::<alloy_primitives::Address>().ok() == Some(VERIFIER_PRECOMPILE))
        == Some(true);
    match method.as_str() {
        "eth_call" if at_precompile => {
            return json!({"jsonrpc": "2.0", "id": id, "result": format!("0x{word}")})
        }
        "eth_getCode" if at_precompile => {
            return json!({"jsonrpc": "2.0", "id": id, "result": "0x"})
        }
        _ => {}
    }
    let provider =
        alloy_provider::RootProvider::<alloy_network::Ethereum>::new_http(anvil_url.clone());
    match alloy_provider::Provider::raw_request::<_, Value>(&provider, method.into(), params).await
    {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": e.to_string()}})
        }
    }
}

#[tokio::test]
async fn a_declared_verifier_is_checked_against_the_chain() {
    let anvil = Anvil::start();

    // Plain anvil: nothing at 0x…F01D, a call there answers no data.
    let err = build(&anvil.url).await.unwrap_err();
    assert!(
        err.contains("verifies_proofs = true")
            && err.contains("no Manyfold verifier precompile")
            && err.contains("answers no data"),
        "{err}"
    );

    // Without the declaration, anvil is a secondary as before.
    let value = json!({"kind": "evm", "id": 1, "finality": 0, "url": anvil.url.as_str()});
    let plain = ChainSpec::parse("s", &value).unwrap();
    let secondary = tokio::task::spawn_blocking(move || {
        let mut registry = ChainRegistry::new();
        registry
            .register(manyfold_chain_evm::KIND, factory())
            .unwrap();
        registry.build(&plain).unwrap()
    })
    .await
    .unwrap();
    assert!(!secondary.chain.capabilities().verifies_proofs);

    // A stand-in answering as the precompile documents: accepted, and it says so.
    let good = stand_in(anvil.url.clone(), "00".repeat(32)).await;
    let chain = build(&good).await.unwrap();
    assert!(chain.0.capabilities().verifies_proofs);

    // An answer other than the word 0 to a malformed input is not the precompile.
    let odd = stand_in(anvil.url.clone(), format!("{}01", "00".repeat(31))).await;
    let err = build(&odd).await.unwrap_err();
    assert!(err.contains("not the word 0"), "{err}");

    // A contract placed at the address (returning the word 0 to anything) is not it
    // either: a precompile has no code.
    let returns_zero = hex::decode("60206000f3").unwrap(); // RETURN(0, 32): 32 zero bytes
    anvil
        .rpc(
            "anvil_setCode",
            json!([VERIFIER_PRECOMPILE, hex::encode_prefixed(&returns_zero)]),
        )
        .await;
    let err = build(&anvil.url).await.unwrap_err();
    assert!(err.contains("a contract (5 bytes of code)"), "{err}");
}

#[tokio::test]
async fn a_transaction_s_calldata_is_read_back() {
    let anvil = Anvil::start();
    let chain = anvil.chain("input").await;
    let data = [7u8; 100];
    let hash = anvil
        .send_from(address(KEY0), Some(address(KEY1)), &data)
        .await;
    anvil.receipt(hash).await;
    assert_eq!(
        chain.transaction_input(hash).await.unwrap(),
        Some(Bytes::from(data.to_vec()))
    );
    assert_eq!(
        chain
            .transaction_input(alloy_primitives::B256::repeat_byte(9))
            .await
            .unwrap(),
        None
    );
}
