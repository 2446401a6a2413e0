//! The Prometheus endpoint reports queue depth, throughput and latency of the actors, and
//! the block height and mempool size gauges.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use common::*;
use manyfold_rpc::api::ManyfoldApiClient;
use manyfold_state::testing::User;

fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_endpoint_reports_actor_and_chain_figures() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr: SocketAddr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    run(async {
        let mut config = test_config(dir.path());
        config.metrics.enabled = true;
        config.metrics.addr = metrics_addr;
        let node = manyfold_node::start(&config).await.unwrap();
        let client = http(node.rpc_addr);
        let alice = User::from_seed(3);
        client
            .submit_priority_op(deposit(&alice, 0, 5))
            .await
            .unwrap();
        let a = account_of(&client, &alice).await;
        submit(&client, register_key(&alice, a, 0)).await;

        let text = tokio::task::spawn_blocking(move || scrape(metrics_addr))
            .await
            .unwrap();
        assert!(
            value(&text, "manyfold_block_height").unwrap() >= 2.0,
            "{text}"
        );
        assert_eq!(value(&text, "manyfold_mempool_txs"), Some(0.0));
        assert!(value(&text, "manyfold_blocks_sealed_total").unwrap() >= 2.0);
        assert!(
            value(
                &text,
                "manyfold_mempool_submissions_total{outcome=\"accepted\"}"
            )
            .unwrap()
                >= 1.0
        );
        for series in [
            "manyfold_mempool_priority_ops",
            "manyfold_block_builder_pending_ops",
            "manyfold_block_seal_seconds_count",
            "manyfold_mempool_submit_seconds_count",
            "manyfold_rpc_request_seconds_count{method=\"sendTransaction\"}",
        ] {
            assert!(
                value(&text, series).is_some(),
                "{series} missing from\n{text}"
            );
        }
        node.stop().await;
    });
}
