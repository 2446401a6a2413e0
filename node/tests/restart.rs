//! Crash safety of the node process: transactions acknowledged over RPC survive a SIGKILL
//! and are included after a restart, reaching the state root a crash-free run reaches;
//! SIGTERM shuts the node down cleanly with exit code 0.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

use common::*;
use manyfold_rpc::api::{BlockTag, ManyfoldApiClient};
use manyfold_state::testing::User;
use manyfold_state::L2State;
use manyfold_types::block::fr_to_b256;
use manyfold_types::{Op, TxStatus};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The node process, killed if the test panics so that no orphan outlives it.
struct NodeProcess(Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A sequencing node without chains: deposits are injected over RPC (a development
/// switch refused once chains are configured).
fn spawn_node(data_dir: &Path, rpc: SocketAddr) -> NodeProcess {
    let config = data_dir.join("sequencer.toml");
    std::fs::write(&config, "[dev]\nallow_priority_injection = true\n").unwrap();
    NodeProcess(
        Command::new(env!("CARGO_BIN_EXE_manyfold"))
            .args(["node", "--config"])
            .arg(&config)
            .args(["--log", "warn", "--data-dir"])
            .arg(data_dir)
            .args([
                "--rpc-addr",
                &rpc.to_string(),
                "--metrics-addr",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .env("MANYFOLD_BLOCK__MAX_BLOCK_TIME_MS", "300")
            // Proving is tested on its own; here it would only compete for the CPU.
            .env("MANYFOLD_PROVER__ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

async fn wait_ready(rpc: SocketAddr) {
    let client = http(rpc);
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get_block_by_number(BlockTag::Latest).await.is_err() {
        assert!(Instant::now() < deadline, "node did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn acknowledged_transactions_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let rpc: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let users: Vec<User> = (0..4).map(|i| User::from_seed(100 + i)).collect();
    let mut reference = L2State::new(manyfold_types::ChainSet::local(1));

    let mut node = spawn_node(dir.path(), rpc);
    let acknowledged = run(async {
        wait_ready(rpc).await;
        let client = http(rpc);
        for (i, user) in users.iter().enumerate() {
            let op = deposit(user, i as u64, 1_000_000);
            client.submit_priority_op(op).await.unwrap();
            reference.apply(&Op::from(op)).unwrap();
        }
        for (i, user) in users.iter().enumerate() {
            assert_eq!(account_of(&client, user).await, i as u32);
            let tx = register_key(user, i as u32, 0);
            client.send_transaction(tx).await.unwrap();
            reference.apply(&Op::from(tx)).unwrap();
        }
        // A stream of transfers; the node is killed while blocks are being sealed.
        let mut acknowledged = Vec::new();
        for round in 1..=15u32 {
            for (i, user) in users.iter().enumerate() {
                let to = (i as u32 + 1) % users.len() as u32;
                let tx = transfer(user, i as u32, to, 1 + round as u128, round);
                acknowledged.push(client.send_transaction(tx).await.unwrap());
                reference.apply(&Op::from(tx)).unwrap();
            }
        }
        // The kill must catch acknowledged transactions that no block holds yet.
        let last = *acknowledged.last().unwrap();
        assert!(
            client
                .get_transaction_receipt(last)
                .await
                .unwrap()
                .is_none(),
            "everything was sealed before the kill"
        );
        acknowledged
    });
    node.0.kill().unwrap(); // SIGKILL
    node.0.wait().unwrap();

    let mut node = spawn_node(dir.path(), rpc);
    run(async {
        wait_ready(rpc).await;
        let client = http(rpc);
        for hash in &acknowledged {
            assert_eq!(
                receipt(&client, *hash).await.status,
                TxStatus::Included,
                "{hash} was acknowledged before the crash"
            );
        }
        let latest = client
            .get_block_by_number(BlockTag::Latest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            latest.state_root,
            fr_to_b256(&reference.root()),
            "the crash changed the final state"
        );
    });

    // A graceful stop exits 0.
    let status = Command::new("kill")
        .args(["-TERM", &node.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(code) = node.0.try_wait().unwrap() {
            assert!(code.success(), "SIGTERM exit status {code}");
            break;
        }
        assert!(Instant::now() < deadline, "node ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
