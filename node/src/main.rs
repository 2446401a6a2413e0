//! `manyfold`: the node's command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use manyfold_node::config::{self, CliOverrides, MetricsOverrides, NodeConfig, RpcOverrides};

/// Manyfold: a multi-chain ZK-rollup node.
///
/// Configuration is layered: defaults, then `--config FILE` (TOML), then `MANYFOLD_*`
/// environment variables (`__` between nesting levels, e.g. `MANYFOLD_RPC__ADDR`), then
/// the flags below.
#[derive(Parser)]
#[command(name = "manyfold", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a local devnet with its embedded defaults; no external service needed.
    Devnet(Common),
    /// Runs a node from a configuration file.
    Node {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// TOML configuration file (see config/ for commented examples).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the node's database.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the JSON-RPC server (HTTP and WebSocket).
    #[arg(long, value_name = "ADDR")]
    rpc_addr: Option<SocketAddr>,
    /// Address of the Prometheus endpoint.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Log filter (tracing's EnvFilter syntax); RUST_LOG works too.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

impl Common {
    fn overrides(&self) -> CliOverrides {
        CliOverrides {
            data_dir: self.data_dir.clone(),
            rpc: self.rpc_addr.map(|addr| RpcOverrides { addr }),
            metrics: self.metrics_addr.map(|addr| MetricsOverrides { addr }),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (base, common, devnet) = match &cli.command {
        Command::Devnet(common) => (NodeConfig::devnet(), common, true),
        Command::Node { common } => (NodeConfig::default(), common, false),
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| common.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .init();
    if !devnet && common.config.is_none() {
        eprintln!("error: `manyfold node` needs --config FILE (see config/node.toml)");
        return ExitCode::from(2);
    }
    let config = match config::load(base, common.config.as_deref(), &common.overrides()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if devnet {
        tracing::info!(
            data_dir = %config.data_dir.display(),
            "devnet: sequencing only; the embedded chains arrive with the chain plugins"
        );
    }
    match manyfold_node::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
