//! The Prometheus endpoint and the descriptions of the node's metrics.

use std::net::SocketAddr;
use std::sync::OnceLock;

use metrics_exporter_prometheus::PrometheusBuilder;

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs the global recorder and serves `GET /metrics` on `addr`. A process has one
/// recorder: later calls (several nodes in one test process) keep the first.
pub(crate) fn install(addr: SocketAddr) -> Result<(), String> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let (recorder, exporter) = PrometheusBuilder::new()
        .with_http_listener(addr)
        .build()
        .map_err(|e| format!("cannot start the metrics endpoint on {addr}: {e}"))?;
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = exporter.await {
            tracing::error!(error = ?e, "metrics endpoint stopped");
        }
    });
    INSTALLED.set(()).ok();
    describe();
    tracing::info!(%addr, "Prometheus metrics at /metrics");
    Ok(())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        "manyfold_mempool_txs",
        "L2 transactions waiting in the mempool (its queue depth)"
    );
    describe_gauge!(
        "manyfold_mempool_priority_ops",
        "priority ops waiting in the mempool's priority lane"
    );
    describe_counter!(
        "manyfold_mempool_submissions_total",
        "transactions submitted, by outcome"
    );
    describe_histogram!(
        "manyfold_mempool_submit_seconds",
        Unit::Seconds,
        "time to validate and durably pool a transaction"
    );
    describe_gauge!("manyfold_block_height", "height of the last sealed block");
    describe_gauge!(
        "manyfold_block_builder_pending_ops",
        "ops waiting for the next block (the builder's queue depth, capped at a block)"
    );
    describe_counter!(
        "manyfold_blocks_sealed_total",
        "blocks sealed (block builder throughput)"
    );
    describe_counter!("manyfold_block_ops_total", "ops included in sealed blocks");
    describe_counter!(
        "manyfold_block_failed_txs_total",
        "transactions refused when their block was built"
    );
    describe_histogram!(
        "manyfold_block_seal_seconds",
        Unit::Seconds,
        "time to apply, persist and announce a block"
    );
    describe_counter!(
        "manyfold_block_clock_behind_total",
        "blocks sealed while the clock read earlier than the last block (they keep its timestamp)"
    );
    describe_counter!(
        "manyfold_actor_restarts_total",
        "actor restarts by the supervisor, by actor (the prover's: proving restarted from durable progress)"
    );
    describe_counter!(
        "manyfold_prover_steps_total",
        "IVC steps folded by the prover (four ops each)"
    );
    describe_histogram!(
        "manyfold_prover_step_seconds",
        Unit::Seconds,
        "time to fold one step"
    );
    describe_histogram!(
        "manyfold_prover_compress_seconds",
        Unit::Seconds,
        "time to compress a block range into one SNARK"
    );
    describe_gauge!(
        "manyfold_prover_last_proven_block",
        "last block covered by a stored proof"
    );
    describe_gauge!(
        "manyfold_prover_backlog_blocks",
        "sealed blocks waiting for the prover (its queue depth)"
    );
    describe_counter!(
        "manyfold_prover_panics_total",
        "proving attempts that panicked (caught; proving retries the block after a backoff)"
    );
    describe_counter!(
        "manyfold_prover_errors_total",
        "proving attempts that failed with an error (retried after a backoff)"
    );
    describe_gauge!(
        "manyfold_prover_failing_block",
        "block whose proving keeps failing, 0 while proving is healthy"
    );
    describe_counter!(
        "manyfold_prover_notifications_dropped_total",
        "block notifications dropped by a full prover queue (harmless: the prover reads the store)"
    );
    describe_counter!(
        "manyfold_rpc_requests_total",
        "JSON-RPC calls by method and outcome"
    );
    describe_histogram!(
        "manyfold_rpc_request_seconds",
        Unit::Seconds,
        "JSON-RPC call latency by method"
    );
    describe_counter!(
        "manyfold_rpc_subscription_lagged_total",
        "events skipped by subscribers too slow to keep up"
    );
}
