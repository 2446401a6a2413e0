//! The embedded chain run alone, as `manyfold chain`: standard tools work against it
//! unchanged (Foundry's cast; the `evm` plugin, which is alloy's provider, through the
//! conformance kit), and a SIGKILL loses nothing it had made.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee_http_client::HttpClientBuilder;
use manyfold_chain::{Chain, ChainError, ChainFuture, ChainRegistry, ChainSpec, Finality};
use manyfold_chain_conformance::anvil::{free_port, pinned_tool, wait_for_port, ACCOUNT_0_KEY};
use manyfold_chain_conformance::{probe, run, Check, KitOptions, Target};
use serde_json::{json, Value};

const CHAIN_ID: u64 = 4_343;

/// `manyfold chain` on a data directory and a fixed port, killed with SIGKILL when dropped.
struct ChainProcess {
    child: Child,
    data_dir: PathBuf,
    port: u16,
}

impl ChainProcess {
    fn start(data_dir: &Path, port: u16) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_manyfold"))
            .args(["chain", "--data-dir"])
            .arg(data_dir)
            .args(["--rpc-addr", &format!("127.0.0.1:{port}")])
            .args(["--chain-id", &CHAIN_ID.to_string(), "--log", "info"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for_port(port, Duration::from_secs(30), "manyfold chain");
        Self {
            child,
            data_dir: data_dir.to_owned(),
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }

    fn restart(&mut self) {
        self.kill();
        *self = Self::start(&self.data_dir.clone(), self.port);
    }
}

impl Drop for ChainProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cast(args: &[&str]) -> String {
    let out = Command::new(pinned_tool("MANYFOLD_CAST", "cast"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cast {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn cast_json(args: &[&str]) -> Value {
    serde_json::from_str(&cast(args)).unwrap()
}

#[test]
fn cast_works_against_the_standalone_chain_and_a_sigkill_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainProcess::start(&dir.path().join("chain"), free_port());
    let url = chain.url();
    let key = B256::from(ACCOUNT_0_KEY).to_string();
    let from = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    let rpc = ["--rpc-url", url.as_str()];

    assert_eq!(
        cast(&[&["chain-id"][..], &rpc].concat()),
        CHAIN_ID.to_string()
    );
    assert_eq!(
        cast(&[&["balance", from][..], &rpc].concat()),
        "10000000000000000000000",
        "a dev account of the public mnemonic"
    );

    // Deploy the kit's probe, then call it in a transaction: one log.
    let init = alloy_primitives::hex::encode_prefixed(probe::init_code());
    let deployed = cast_json(
        &[
            &["send", "--json", "--private-key", &key][..],
            &rpc,
            &["--create", &init],
        ]
        .concat(),
    );
    assert_eq!(deployed["status"], "0x1", "{deployed}");
    let contract = deployed["contractAddress"].as_str().unwrap().to_owned();
    let input =
        alloy_primitives::hex::encode_prefixed(probe::log_input(B256::repeat_byte(7), b"hi"));
    let sent = cast_json(
        &[
            &["send", "--json", "--private-key", &key, &contract, &input][..],
            &rpc,
        ]
        .concat(),
    );
    assert_eq!(sent["status"], "0x1", "{sent}");
    let tx = sent["transactionHash"].as_str().unwrap().to_owned();

    let receipt = cast_json(&[&["receipt", "--json", &tx][..], &rpc].concat());
    assert_eq!(receipt["transactionHash"].as_str(), Some(tx.as_str()));
    let logs = receipt["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["topics"][1], B256::repeat_byte(7).to_string());

    let topic0 = probe::topic0().to_string();
    let found = cast_json(
        &[
            &[
                "logs",
                "--json",
                "--from-block",
                "0",
                "--to-block",
                "latest",
                "--address",
                &contract,
                &topic0,
            ][..],
            &rpc,
        ]
        .concat(),
    );
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["transactionHash"].as_str(), Some(tx.as_str()));

    let word = cast(&[&["call", &contract, &input][..], &rpc].concat());
    assert_eq!(word, probe::word().to_string());

    let to = "0x000000000000000000000000000000000000bEEF";
    cast(
        &[
            &["send", "--private-key", &key, to, "--value", "12345"][..],
            &rpc,
        ]
        .concat(),
    );
    assert_eq!(cast(&[&["balance", to][..], &rpc].concat()), "12345");
    assert_eq!(cast(&[&["nonce", from][..], &rpc].concat()), "3");

    // Everything a client can read, before and after a SIGKILL.
    let snapshot = |url: &str| -> Value {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let client = HttpClientBuilder::default().build(url).unwrap();
            let head: String = client
                .request("eth_blockNumber", rpc_params![])
                .await
                .unwrap();
            let head = u64::from_str_radix(head.trim_start_matches("0x"), 16).unwrap();
            let mut blocks = Vec::new();
            for n in 0..=head {
                let block: Value = client
                    .request("eth_getBlockByNumber", rpc_params![format!("{n:#x}"), true])
                    .await
                    .unwrap();
                blocks.push(block);
            }
            let receipt: Value = client
                .request("eth_getTransactionReceipt", rpc_params![tx.clone()])
                .await
                .unwrap();
            let mut accounts = Vec::new();
            for account in [from, to, contract.as_str()] {
                let balance: Value = client
                    .request("eth_getBalance", rpc_params![account, "latest"])
                    .await
                    .unwrap();
                let code: Value = client
                    .request("eth_getCode", rpc_params![account, "latest"])
                    .await
                    .unwrap();
                let nonce: Value = client
                    .request("eth_getTransactionCount", rpc_params![account, "latest"])
                    .await
                    .unwrap();
                accounts.push(json!([balance, code, nonce]));
            }
            json!({"head": head, "blocks": blocks, "receipt": receipt, "accounts": accounts})
        })
    };
    let before = snapshot(&url);
    assert_eq!(before["head"], 3);
    chain.restart();
    let after = snapshot(&url);
    assert_eq!(
        before, after,
        "blocks, receipts, balances and code survive SIGKILL"
    );

    // And it goes on from there.
    cast(
        &[
            &["send", "--private-key", &key, to, "--value", "1"][..],
            &rpc,
        ]
        .concat(),
    );
    assert_eq!(cast(&[&["block-number"][..], &rpc].concat()), "4");
}

/// The `evm` plugin (alloy's provider) against the standalone chain; a restart kills the
/// process with SIGKILL and starts it again on the same data.
struct Standalone {
    process: ChainProcess,
    registry: ChainRegistry,
}

impl Target for Standalone {
    fn expected_chain_id(&self) -> u64 {
        CHAIN_ID
    }

    fn funded_key(&self) -> [u8; 32] {
        ACCOUNT_0_KEY
    }

    fn finality(&self) -> Finality {
        Finality::Finalized
    }

    fn open(&mut self) -> ChainFuture<'_, Arc<dyn Chain>> {
        let section =
            json!({"kind": "evm", "id": 1, "url": self.process.url(), "chain_id": CHAIN_ID});
        let built = ChainSpec::parse("standalone", &section)
            .and_then(|spec| self.registry.build(&spec))
            .map(|b| b.chain)
            .map_err(ChainError::other);
        Box::pin(async move { built })
    }

    fn restart(&mut self, chain: Arc<dyn Chain>) -> ChainFuture<'_, Arc<dyn Chain>> {
        drop(chain);
        self.process.restart();
        self.open()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evm_plugin_passes_the_conformance_kit_against_the_standalone_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = ChainRegistry::new();
    registry
        .register(manyfold_chain_evm::KIND, manyfold_chain_evm::factory())
        .unwrap();
    let mut target = Standalone {
        process: ChainProcess::start(&dir.path().join("chain"), free_port()),
        registry,
    };
    let report = run(&mut target, KitOptions::default())
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    // Each transaction is mined as it arrives: nothing stays pending to be replaced.
    let mut expected = Check::ALL.to_vec();
    expected.retain(|c| *c != Check::Underpriced);
    assert_eq!(report.passed(), expected, "{report}");
}
