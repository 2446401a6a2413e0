//! Test support: an anvil on a loopback port (killed on drop), raw JSON-RPC calls to it,
//! a contract that emits logs, signed transfers.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_network::Ethereum;
use alloy_primitives::{hex, Address, Bytes, TxKind, B256, U256};
use alloy_provider::{Provider, RootProvider};
use manyfold_chain_evm::{EvmChain, EvmConfig};
use manyfold_sender::{LocalSigner, SignedTx, TxEip1559, TxSigner};
use serde_json::{json, Value};
use url::Url;

/// anvil's chain id.
pub const CHAIN_ID: u64 = 31_337;
/// anvil's account 0 (funded, unlocked).
pub const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// anvil's account 1.
pub const KEY1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub const GWEI: u128 = 1_000_000_000;

/// The anvil binary: `MANYFOLD_ANVIL`, else the pinned one under `tools/`. Missing is a
/// failure, never a skip.
pub fn anvil_path() -> PathBuf {
    if let Ok(path) = std::env::var("MANYFOLD_ANVIL") {
        return PathBuf::from(path);
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tools/node_modules/.bin/anvil");
    assert!(
        path.exists(),
        "anvil not found at {} (set MANYFOLD_ANVIL, or install tools/)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    listener.local_addr().unwrap().port()
}

/// An anvil process on 127.0.0.1, killed when dropped.
pub struct Anvil {
    child: Option<Child>,
    pub port: u16,
    pub url: Url,
    args: Vec<String>,
}

impl Anvil {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let port = free_port();
        let mut anvil = Self {
            child: None,
            port,
            url: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            args,
        };
        anvil.spawn();
        anvil
    }

    fn spawn(&mut self) {
        let child = Command::new(anvil_path())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        self.child = Some(child);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "anvil did not come up on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills anvil (its state is lost); the port stays ours to restart on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh anvil on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn provider(&self) -> RootProvider<Ethereum> {
        RootProvider::new_http(self.url.clone())
    }

    /// A raw JSON-RPC call; panics on an error answer.
    pub async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.provider()
            .raw_request::<_, Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub fn config(&self, name: &str) -> EvmConfig {
        let mut config = EvmConfig::new(name, self.url.clone());
        config.chain_id = Some(CHAIN_ID);
        config.request_timeout = Duration::from_secs(5);
        config.retry_backoff = Duration::from_millis(20);
        config.max_backoff = Duration::from_millis(100);
        config
    }

    pub async fn chain(&self, name: &str) -> Arc<EvmChain> {
        Arc::new(EvmChain::connect(self.config(name)).await.unwrap())
    }

    pub async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([format!("{blocks:#x}")]))
            .await;
    }

    pub async fn automine(&self, on: bool) {
        self.rpc("evm_setAutomine", json!([on])).await;
    }

    /// Sends from an unlocked account, returns the hash.
    pub async fn send_from(&self, from: Address, to: Option<Address>, data: &[u8]) -> B256 {
        let mut tx = json!({"from": from, "data": hex::encode_prefixed(data), "gas": "0x100000"});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        serde_json::from_value(self.rpc("eth_sendTransaction", json!([tx])).await).unwrap()
    }

    /// Deploys `runtime` (with a constructor that returns it); returns its address.
    pub async fn deploy(&self, runtime: &[u8]) -> Address {
        let tx = self
            .send_from(address(KEY0), None, &initcode(runtime))
            .await;
        let receipt = self.receipt(tx).await;
        assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
        serde_json::from_value(receipt["contractAddress"].clone()).expect("deployed")
    }

    /// The receipt of `tx`, waiting a little for anvil to mine it.
    pub async fn receipt(&self, tx: B256) -> Value {
        for _ in 0..100 {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([tx])).await;
            if !receipt.is_null() {
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no receipt for {tx}")
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn signer(key: &str) -> LocalSigner {
    LocalSigner::from_hex(key).unwrap()
}

pub fn address(key: &str) -> Address {
    signer(key).address()
}

/// Topic of every log the emitter writes.
pub const EMITTED: B256 = B256::repeat_byte(0xe1);

/// Runtime code: `LOG1(topic = EMITTED, data = calldata)`, then stop.
pub fn emitter() -> Vec<u8> {
    let mut code = vec![
        0x36, // CALLDATASIZE
        0x60, 0x00, // PUSH1 0 (offset in calldata)
        0x60, 0x00, // PUSH1 0 (memory offset)
        0x37, // CALLDATACOPY
        0x7f, // PUSH32 topic
    ];
    code.extend_from_slice(EMITTED.as_slice());
    code.extend([
        0x36, // CALLDATASIZE (size)
        0x60, 0x00, // PUSH1 0 (offset)
        0xa1, // LOG1
        0x00, // STOP
    ]);
    code
}

/// Runtime code: reverts with the 4 bytes 0xdeadbeef.
pub fn reverter() -> Vec<u8> {
    vec![
        0x63, 0xde, 0xad, 0xbe, 0xef, // PUSH4 0xdeadbeef
        0x60, 0x00, // PUSH1 0
        0x52, // MSTORE (the word at 0 ends with the 4 bytes)
        0x60, 0x04, // PUSH1 4 (size)
        0x60, 0x1c, // PUSH1 28 (offset)
        0xfd, // REVERT
    ]
}

/// A constructor returning `runtime`.
pub fn initcode(runtime: &[u8]) -> Vec<u8> {
    let len = u8::try_from(runtime.len()).expect("a short runtime");
    let mut code = vec![
        0x60, len, // PUSH1 len
        0x60, 0x0c, // PUSH1 12 (where the runtime starts in this code)
        0x60, 0x00, // PUSH1 0
        0x39, // CODECOPY
        0x60, len, // PUSH1 len
        0x60, 0x00, // PUSH1 0
        0xf3, // RETURN
    ];
    code.extend_from_slice(runtime);
    code
}

/// A signed EIP-1559 transfer.
pub fn transfer(
    from: &LocalSigner,
    nonce: u64,
    to: Address,
    value: U256,
    max_fee: u128,
    tip: u128,
) -> SignedTx {
    from.sign(&TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input: Bytes::new(),
    })
    .unwrap()
}
