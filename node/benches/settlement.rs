//! Settlement latency and L1 gas on the devnet, as a user sees them.
//!
//! `cargo bench -p manyfold-node --bench settlement -- [SECONDS] [INTERVAL_MS]` starts
//! `manyfold devnet` (three embedded chains in one process), funds two accounts, then for
//! SECONDS (default 120) sends one L2 withdrawal every INTERVAL_MS (default 2000), to alpha
//! and beta in turn, each with `manyfold wallet`. For every withdrawal it measures the time
//! from the node's acknowledgement (the wallet's answer) to the block executed on every
//! chain that settles it, and prints p50/p95; then the L1 gas each chain spent per L2 op
//! from the node's `manyfold_settlement_gas_used_total` metrics.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEV1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Devnet {
    child: Child,
    node: String,
    metrics: String,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wallet(node: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_manyfold"))
        .args(["wallet", "--node", node])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "wallet {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn rpc(node: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let url = node.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(url).unwrap();
    let body = body.to_string();
    use std::io::{Read, Write};
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {url}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let json = reply.split("\r\n\r\n").nth(1).unwrap_or("{}");
    serde_json::from_str::<serde_json::Value>(json).unwrap()["result"].clone()
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// Whether every chain with records for the transaction's block shows it executed.
fn executed_everywhere(status: &serde_json::Value) -> bool {
    let Some(chains) = status["settlement"]["chains"].as_array() else {
        return false;
    };
    let settled: Vec<_> = chains
        .iter()
        .filter(|c| c["stages"].as_array().is_some_and(|s| !s.is_empty()))
        .collect();
    !settled.is_empty() && settled.iter().all(|c| c["stage"] == "executed")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(120);
    let interval = Duration::from_millis(args.get(1).copied().unwrap_or(2000));

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/manyfold-bench-params");
    let _ = manyfold_prover::testing::devnet_params(&shared, 3);
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(shared.join("ptau"), data.join("insecure-ptau")).unwrap();
    let node_port = free_port();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_manyfold"));
    command
        .args(["devnet", "--log", "warn", "--data-dir"])
        .arg(&data)
        .args(["--rpc-addr", &format!("127.0.0.1:{node_port}")])
        .args(["--metrics-addr", &metrics])
        .env("MANYFOLD_PROVER__PARAMS_DIR", shared.join("params"));
    for name in ["PRIMARY", "ALPHA", "BETA"] {
        command.env(
            format!("MANYFOLD_CHAINS__{name}__RPC"),
            format!("127.0.0.1:{}", free_port()),
        );
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the devnet exited"
        );
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    let devnet = Devnet {
        child,
        node: format!("http://127.0.0.1:{node_port}"),
        metrics,
    };
    let node = devnet.node.as_str();
    eprintln!("devnet up; funding");
    wallet(
        node,
        &[
            "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "50",
        ],
    );
    wallet(
        node,
        &[
            "--dev", "2", "deposit", "--chain", "beta", "--token", "0", "--amount", "50",
        ],
    );
    wallet(
        node,
        &[
            "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "0.01",
            "--to", DEV1,
        ],
    );
    std::thread::sleep(Duration::from_secs(5));
    // Registers dev0's L2 key (and waits for its block) before the measured load.
    wallet(
        node,
        &[
            "--dev", "0", "transfer", "--to", DEV1, "--token", "0", "--amount", "0.001",
        ],
    );
    std::thread::sleep(Duration::from_secs(5));

    eprintln!("steady load: one withdrawal every {interval:?} for {seconds} s");
    let start = Instant::now();
    let mut sent: Vec<(String, Instant)> = Vec::new();
    let mut k = 0u32;
    while start.elapsed() < Duration::from_secs(seconds) {
        let chain = if k.is_multiple_of(2) { "alpha" } else { "beta" };
        let amount = format!("0.{:06}", 1000 + k);
        let hash = wallet(
            node,
            &[
                "--dev", "0", "withdraw", "--chain", chain, "--to", DEV1, "--token", "0",
                "--amount", &amount,
            ],
        );
        sent.push((hash, Instant::now()));
        k += 1;
        std::thread::sleep(interval);
    }
    eprintln!(
        "{} withdrawals sent; waiting for each to be executed everywhere",
        sent.len()
    );
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut pending: Vec<(String, Instant)> = sent.clone();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|(hash, acked)| {
            let status = rpc(
                node,
                "manyfold_getTransactionStatus",
                serde_json::json!([hash]),
            );
            if executed_everywhere(&status) {
                latencies.push(acked.elapsed().as_secs_f64());
                false
            } else {
                true
            }
        });
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        pending.is_empty(),
        "{} withdrawals never executed",
        pending.len()
    );
    latencies.sort_by(f64::total_cmp);
    println!(
        "ack -> executed on every chain: {} withdrawals, p50 {:.1} s, p95 {:.1} s, max {:.1} s (one every {} ms)",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().unwrap(),
        interval.as_millis()
    );

    // L1 gas per L2 op on each chain, from the node's own metrics.
    let text = http_get(&devnet.metrics, "/metrics");
    let blocks = rpc(
        node,
        "manyfold_getBlockByNumber",
        serde_json::json!(["latest"]),
    );
    let height = u64::from_str_radix(
        blocks["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let mut ops = 0u64;
    for n in 1..=height {
        let block = rpc(
            node,
            "manyfold_getBlockByNumber",
            serde_json::json!([format!("0x{n:x}")]),
        );
        ops += block["ops"].as_array().map_or(0, |o| o.len() as u64);
    }
    for chain in ["primary", "alpha", "beta"] {
        let mut by_action = Vec::new();
        let mut total = 0f64;
        for line in text
            .lines()
            .filter(|l| l.starts_with("manyfold_settlement_gas_used_total{"))
        {
            if !line.contains(&format!("chain=\"{chain}\"")) {
                continue;
            }
            let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            let action = line
                .split("action=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            by_action.push(format!("{action} {value:.0}"));
            total += value;
        }
        println!(
            "{chain}: {total:.0} gas for {ops} L2 ops in {height} blocks = {:.0} gas per op ({})",
            total / ops as f64,
            by_action.join(", ")
        );
    }
}
