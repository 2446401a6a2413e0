//! Endpoint trouble: a proxy that refuses large log ranges, an anvil that stops, an
//! endpoint that never answers. Metrics are read through a recorder of this test binary.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use manyfold_chain::{BlockTag, ChainError, ChainReader, LogFilter};
use manyfold_chain_evm::{EvmChain, EvmConfig};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

// ---- a recorder that keeps every counter and gauge, by name and labels ----

type Values = Arc<Mutex<HashMap<String, f64>>>;

struct Cell {
    key: String,
    values: Values,
}

impl metrics::CounterFn for Cell {
    fn increment(&self, value: u64) {
        *self
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value as f64;
    }
    fn absolute(&self, value: u64) {
        self.values
            .lock()
            .unwrap()
            .insert(self.key.clone(), value as f64);
    }
}

impl metrics::GaugeFn for Cell {
    fn increment(&self, value: f64) {
        *self
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.values.lock().unwrap().insert(self.key.clone(), value);
    }
}

impl metrics::HistogramFn for Cell {
    fn record(&self, _value: f64) {}
}

struct TestRecorder(Values);

fn key_text(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(self.cell(key)))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(self.cell(key)))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(self.cell(key)))
    }
}

impl TestRecorder {
    fn cell(&self, key: &Key) -> Cell {
        Cell {
            key: key_text(key),
            values: self.0.clone(),
        }
    }
}

/// The recorded value of `name{labels}` (labels sorted, `k=v` joined by commas).
fn metric(name_and_labels: &str) -> Option<f64> {
    static VALUES: OnceLock<Values> = OnceLock::new();
    let values = VALUES.get_or_init(|| {
        let values = Values::default();
        metrics::set_global_recorder(TestRecorder(values.clone())).unwrap();
        values
    });
    values.lock().unwrap().get(name_and_labels).copied()
}

fn install_recorder() {
    let _ = metric("");
}

// ---- a JSON-RPC proxy that refuses eth_getLogs over `limit` blocks ----

#[derive(Default)]
struct ProxyLog {
    /// Every eth_getLogs range asked for, and whether it was answered.
    ranges: Vec<(u64, u64, bool)>,
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

async fn answer(anvil_url: &url::Url, limit: u64, log: &Mutex<ProxyLog>, request: Value) -> Value {
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let params = request["params"].clone();
    if method == "eth_getLogs" {
        let from = quantity(&params[0]["fromBlock"]);
        let to = quantity(&params[0]["toBlock"]);
        let allowed = to - from < limit;
        log.lock().unwrap().ranges.push((from, to, allowed));
        if !allowed {
            return json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32005, "message": "query returned more than 10000 results"}});
        }
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

/// Starts the proxy in front of `anvil_url`; returns its URL and what it saw.
async fn refusing_proxy(anvil_url: url::Url, limit: u64) -> (url::Url, Arc<Mutex<ProxyLog>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let log = Arc::new(Mutex::new(ProxyLog::default()));
    let shared = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (anvil_url, log) = (anvil_url.clone(), shared.clone());
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    // HTTP/1.1 with keep-alive: headers, then a Content-Length body.
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
                    let reply = answer(&anvil_url, limit, &log, request).await.to_string();
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
    (url, log)
}

#[tokio::test]
async fn log_ranges_are_chunked_and_halved_when_the_endpoint_refuses_them() {
    install_recorder();
    let anvil = Anvil::start();
    let emitter = anvil.deploy(&emitter()).await; // block 1
    for i in 0..10u8 {
        let tx = anvil
            .send_from(address(KEY0), Some(emitter), &[i; 32])
            .await; // 2..=11
        anvil.receipt(tx).await;
    }
    anvil.mine(20).await; // up to 31

    // Chunks of at most max_log_range, through an endpoint that takes any range.
    let (url, seen) = refusing_proxy(anvil.url.clone(), u64::MAX).await;
    let mut config = EvmConfig::new("chunked", url);
    config.max_log_range = 8;
    let chain = EvmChain::connect(config).await.unwrap();
    let logs = chain
        .logs(LogFilter::range(0, 31).address(emitter))
        .await
        .unwrap();
    assert_eq!(logs.len(), 10);
    let ranges: Vec<(u64, u64)> = seen
        .lock()
        .unwrap()
        .ranges
        .iter()
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(ranges, [(0, 7), (8, 15), (16, 23), (24, 31)]);

    // An endpoint that refuses more than 3 blocks: halved until it answers.
    let (url, seen) = refusing_proxy(anvil.url.clone(), 3).await;
    let mut config = EvmConfig::new("split", url);
    config.max_log_range = 8;
    let chain = EvmChain::connect(config).await.unwrap();
    let logs = chain
        .logs(LogFilter::range(0, 31).address(emitter))
        .await
        .unwrap();
    let data: Vec<u8> = logs.iter().map(|l| l.data[0]).collect();
    assert_eq!(
        data,
        (0..10).collect::<Vec<u8>>(),
        "every log, once, in order"
    );
    let seen = seen.lock().unwrap();
    assert!(seen.ranges.contains(&(0, 7, false)) && seen.ranges.contains(&(0, 3, false)));
    let answered: Vec<(u64, u64)> = seen
        .ranges
        .iter()
        .filter(|r| r.2)
        .map(|r| (r.0, r.1))
        .collect();
    let mut next = 0;
    for (from, to) in &answered {
        assert_eq!(*from, next, "contiguous, no block twice: {answered:?}");
        assert!(to - from < 3);
        next = to + 1;
    }
    assert_eq!(next, 32, "the whole range: {answered:?}");
    assert!(metric("manyfold_chain_log_range_splits_total{chain=split}").unwrap() >= 2.0);
}

#[tokio::test]
async fn a_stopped_endpoint_is_a_transient_transport_error_and_shows_as_down() {
    install_recorder();
    let mut anvil = Anvil::start();
    let mut config = anvil.config("downy");
    config.max_retries = 2;
    config.retry_backoff = Duration::from_millis(50);
    let chain = EvmChain::connect(config).await.unwrap();
    assert!(chain.is_up());
    assert_eq!(metric("manyfold_chain_up{chain=downy}"), Some(1.0));

    anvil.stop();
    let started = Instant::now();
    let err = chain.head(BlockTag::Latest).await.unwrap_err();
    assert!(matches!(err, ChainError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "two backoffs: 50 + 100 ms"
    );
    assert!(!chain.is_up());
    assert_eq!(metric("manyfold_chain_up{chain=downy}"), Some(0.0));
    assert_eq!(
        metric("manyfold_chain_rpc_retries_total{chain=downy,method=eth_getBlockBy}"),
        Some(2.0)
    );
    assert_eq!(
        metric(
            "manyfold_chain_rpc_errors_total{chain=downy,class=transient,method=eth_getBlockBy}"
        ),
        Some(1.0)
    );
    // Still down: every call fails the same way, none panics.
    for _ in 0..3 {
        assert!(chain.chain_id().await.unwrap_err().is_transient());
    }

    anvil.restart();
    assert_eq!(chain.head(BlockTag::Latest).await.unwrap().number, 0);
    assert!(chain.is_up());
    assert_eq!(metric("manyfold_chain_up{chain=downy}"), Some(1.0));
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out() {
    install_recorder();
    // Accepts connections, reads, never writes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut config = EvmConfig::new("silent", url);
    config.request_timeout = Duration::from_millis(100);
    config.max_retries = 1;
    config.retry_backoff = Duration::from_millis(10);
    let started = Instant::now();
    let err = EvmChain::connect(config).await.unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "two tries of 100 ms"
    );
    assert!(err.to_string().contains("timed out: eth_chainId"), "{err}");
    assert_eq!(metric("manyfold_chain_up{chain=silent}"), Some(0.0));
    // One failed request: its first try and one retry, both timed out.
    assert_eq!(
        metric("manyfold_chain_rpc_retries_total{chain=silent,method=eth_chainId}"),
        Some(1.0)
    );
    assert_eq!(
        metric("manyfold_chain_rpc_errors_total{chain=silent,class=transient,method=eth_chainId}"),
        Some(1.0)
    );
}
