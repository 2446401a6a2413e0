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
    /// Deploys the settlement contracts on every chain of the configuration and writes the
    /// deployment file the node reads. Safe to re-run: it continues where a failed run
    /// stopped and never sends a step twice.
    Deploy {
        #[command(flatten)]
        common: Common,
    },
    /// Runs the embedded EVM chain as a process of its own, serving Ethereum JSON-RPC
    /// (what `cast`, alloy or the `evm` chain plugin talk to).
    Chain(ChainArgs),
    /// A user's wallet against the node and the chains: deposit, transfer, withdraw,
    /// claim, balance, status.
    Wallet(manyfold_wallet::WalletArgs),
    /// The operator's view of the settlement senders in a stopped node's database: where
    /// each stands, and clearing a stop once its cause is understood.
    Sender(SenderArgs),
}

#[derive(Args)]
struct SenderArgs {
    #[command(subcommand)]
    action: SenderAction,
    /// The node's TOML configuration file (its data directory and deployment file).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Directory of the node's database.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The devnet's database (`manyfold devnet`'s defaults) rather than a node's.
    #[arg(long, global = true)]
    devnet: bool,
}

#[derive(Subcommand)]
enum SenderAction {
    /// Prints each sender: its chain, whether it is stopped and why, and its requests not
    /// yet final.
    Status,
    /// Clears the stop of the senders on one chain, so that the next start goes on (the
    /// command says what clearing that kind of stop leads to).
    Clear {
        /// The chain's name, as in the deployment file.
        #[arg(long, value_name = "NAME")]
        chain: String,
    },
    /// Drops the request the contract refused on one chain, and every request after it:
    /// their nonces go to 0-value transfers to the operator itself, and on the next start
    /// the node asks again for what they were. A refused proof is then submitted again
    /// from the proof store: accepted if it was corrupted on its way, refused again if
    /// the stored proof itself is bad. A node older than this command ignores a drop.
    Drop {
        /// The chain's name, as in the deployment file.
        #[arg(long, value_name = "NAME")]
        chain: String,
    },
}

#[derive(Args)]
struct ChainArgs {
    /// Directory of the chain's database (created if missing; a restart keeps everything).
    #[arg(long, value_name = "DIR", default_value = "manyfold-chain")]
    data_dir: PathBuf,
    /// Address of its JSON-RPC server (port 0 picks a free one; the log says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8546")]
    rpc_addr: SocketAddr,
    /// The EIP-155 chain id.
    #[arg(long, value_name = "ID", default_value_t = 31337)]
    chain_id: u64,
    /// Milliseconds between blocks; 0 mines a block per transaction.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    block_time_ms: u64,
    /// The block gas limit.
    #[arg(long, value_name = "GAS", default_value_t = 30_000_000)]
    block_gas_limit: u64,
    /// How many dev accounts genesis funds (from the public test mnemonic unless
    /// --mnemonic names another).
    #[arg(long, value_name = "N", default_value_t = 10)]
    dev_accounts: u32,
    /// The dev accounts' BIP-39 mnemonic.
    #[arg(
        long,
        value_name = "WORDS",
        env = "MANYFOLD_CHAIN_MNEMONIC",
        hide_env_values = true
    )]
    mnemonic: Option<String>,
    /// Installs the proof verifier precompile, so that the chain can be a rollup's primary
    /// (DESIGN §10; a node reaches it with kind `evm` and `verifies_proofs = true`): pinned
    /// to the verifying key of the prover parameters cached in DIR (the node's
    /// `prover.params_dir`), set up there first when missing (minutes). Needs
    /// --rollup-chains and one of --ptau-dir or --insecure-ptau.
    #[arg(long, value_name = "DIR", requires = "rollup_chains")]
    verifier_params: Option<PathBuf>,
    /// The number of chains of the rollup whose proofs the verifier checks (the circuit's
    /// shape depends on it).
    #[arg(long, value_name = "N", requires = "verifier_params")]
    rollup_chains: Option<usize>,
    /// Powers-of-tau ceremony files (ppot_*.ptau) of the verifier's parameters.
    #[arg(
        long,
        value_name = "DIR",
        requires = "verifier_params",
        conflicts_with = "insecure_ptau"
    )]
    ptau_dir: Option<PathBuf>,
    /// Devnets only: an insecure local powers-of-tau directory (the node's
    /// `<data_dir>/insecure-ptau`); whoever generated it can forge proofs.
    #[arg(long, value_name = "DIR", requires = "verifier_params")]
    insecure_ptau: Option<PathBuf>,
    /// Log filter (tracing's EnvFilter syntax); RUST_LOG works too.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

impl ChainArgs {
    /// The verifying key the precompile pins, when --verifier-params asks for one.
    fn verifier(&self) -> Result<Option<std::sync::Arc<manyfold_prover::PinnedVk>>, String> {
        let Some(params_dir) = &self.verifier_params else {
            return Ok(None);
        };
        let chains = self.rollup_chains.unwrap_or(0);
        if chains == 0 || chains > 16 {
            return Err(format!(
                "--rollup-chains {chains}: a rollup has 1 to 16 chains"
            ));
        }
        let ptau = match (&self.ptau_dir, &self.insecure_ptau) {
            (Some(dir), None) => manyfold_prover::PtauSource::Ceremony(dir.clone()),
            (None, Some(dir)) => {
                tracing::warn!(
                    dir = %dir.display(),
                    "the verifier's parameters come from an insecure local powers-of-tau file: devnets only"
                );
                manyfold_prover::PtauSource::InsecureDevnet(dir.clone())
            }
            _ => {
                return Err(
                    "--verifier-params needs --ptau-dir DIR (ceremony files) or --insecure-ptau DIR (devnets)".into(),
                )
            }
        };
        let params = manyfold_prover::params::load_or_setup(
            params_dir,
            &ptau,
            &manyfold_types::ChainSet::local(chains),
        )
        .map_err(|e| format!("the verifier's parameters: {e}"))?;
        tracing::info!(
            vk_digest = %alloy_primitives::B256::from(params.vk_digest),
            "the verifier precompile pins this verifying key"
        );
        Ok(Some(std::sync::Arc::new(manyfold_prover::PinnedVk::new(
            params.vk,
        ))))
    }
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

/// Logs go to stderr: stdout carries only what a command was asked to print.
fn init_logs(log: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| log.to_owned());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .init();
}

fn main() -> ExitCode {
    // Before anything else (clap's --help and --version print to stdout, so they come
    // after): dependencies must never write to the user's stdout.
    let cli = Cli::parse();
    let mut out = match manyfold_node::stdout::UserOut::reserve() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("error: cannot set up stdout: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (base, common, devnet) = match &cli.command {
        Command::Devnet(common) => return devnet(common, &mut out),
        Command::Node { common } => (NodeConfig::default(), common, false),
        Command::Deploy { common } => return deploy(common, &mut out),
        Command::Chain(args) => return chain(args),
        Command::Wallet(args) => return wallet(args.clone(), &mut out),
        Command::Sender(args) => return sender(args, &mut out),
    };
    init_logs(&common.log);
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
    match manyfold_node::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `manyfold devnet`: deploys the contracts on its three embedded chains (once; a restart
/// finds them), then runs the node and prints its endpoints, the dev keys and a
/// walkthrough: the only lines it writes to stdout.
fn devnet(common: &Common, out: &mut manyfold_node::stdout::UserOut) -> ExitCode {
    init_logs(&common.log);
    let config = match config::load(
        NodeConfig::devnet(),
        common.config.as_deref(),
        &common.overrides(),
    ) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let deployed = manyfold_node::deploy::Deployment::read(&config.deployment_path())
        .ok()
        .filter(|d| {
            config
                .chain_specs()
                .map(|specs| specs.iter().all(|s| d.chains.contains_key(&s.name)))
                .unwrap_or(false)
        });
    if deployed.is_none() {
        eprintln!(
            "devnet: deploying the contracts on its chains (the first start also sets up the prover's parameters: a few minutes)"
        );
        let mut last = (String::new(), usize::MAX);
        let progress = |chain: &str, done: usize, total: usize| {
            if (chain, done) != (last.0.as_str(), last.1) {
                eprintln!("deploy {chain}: {done}/{total} steps final");
                last = (chain.to_owned(), done);
            }
        };
        if let Err(e) = runtime().block_on(manyfold_node::deploy::run(&config, progress)) {
            eprintln!("error: deploying the devnet's contracts: {e}");
            return ExitCode::FAILURE;
        }
    }
    let deployment = match manyfold_node::deploy::Deployment::read(&config.deployment_path()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut printed = Ok(());
    let result = manyfold_node::run_with(config, |node| {
        printed = manyfold_node::devnet::print_welcome(out, node, &deployment);
    });
    if let Err(e) = printed {
        eprintln!("error: writing to stdout: {e}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn deploy(common: &Common, out: &mut manyfold_node::stdout::UserOut) -> ExitCode {
    init_logs(&common.log);
    let Some(file) = common.config.as_deref() else {
        eprintln!("error: `manyfold deploy` needs --config FILE (see config/node.toml)");
        return ExitCode::from(2);
    };
    let config = match config::load(NodeConfig::default(), Some(file), &common.overrides()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut last = (String::new(), usize::MAX);
    let progress = |chain: &str, done: usize, total: usize| {
        // One line per change, on stderr: stdout is for the deployment's path.
        if (chain, done) != (last.0.as_str(), last.1) {
            eprintln!("deploy {chain}: {done}/{total} steps final");
            last = (chain.to_owned(), done);
        }
    };
    match runtime().block_on(manyfold_node::deploy::run(&config, progress)) {
        Ok(deployment) => {
            for (name, chain) in &deployment.chains {
                eprintln!(
                    "  {name}: settlement {} (from block {})",
                    chain.settlement, chain.from_block
                );
            }
            match out.line(config.deployment_path().display()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing to stdout: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn wallet(args: manyfold_wallet::WalletArgs, out: &mut manyfold_node::stdout::UserOut) -> ExitCode {
    // Quiet unless asked: the wallet writes its own progress to stderr.
    init_logs("warn");
    match manyfold_wallet::run(args, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `manyfold sender status|clear`: reads (and for `clear` writes) the stopped node's
/// database directly.
fn sender(args: &SenderArgs, out: &mut manyfold_node::stdout::UserOut) -> ExitCode {
    init_logs("warn");
    let base = if args.devnet {
        NodeConfig::devnet()
    } else {
        NodeConfig::default()
    };
    let overrides = CliOverrides {
        data_dir: args.data_dir.clone(),
        ..CliOverrides::default()
    };
    let config = match config::load(base, args.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let lines = match &args.action {
        SenderAction::Status => manyfold_node::senders::reports(&config).map(status_lines),
        SenderAction::Clear { chain } => {
            manyfold_node::senders::clear(&config, chain).map(|cleared| {
                if cleared.is_empty() {
                    return vec![format!(
                        "no sender on `{chain}` is stopped: nothing changed"
                    )];
                }
                cleared
                    .iter()
                    .flat_map(|(sender, reason)| {
                        [
                            format!("cleared the stop of {sender} on `{chain}`: {reason}"),
                            format!(
                                "on the next start {}",
                                manyfold_node::senders::after_clearing(&reason.kind)
                            ),
                        ]
                    })
                    .collect()
            })
        }
        SenderAction::Drop { chain } => {
            manyfold_node::senders::drop_refused(&config, chain).map(|dropped| {
                dropped
                    .iter()
                    .flat_map(|(sender, requests)| {
                        requests.iter().map(move |tx| {
                            format!(
                                "dropped nonce {} of {sender} on `{chain}`: {}",
                                tx.nonce, tx.label
                            )
                        })
                    })
                    .collect()
            })
        }
    };
    match lines {
        Ok(lines) => {
            for line in lines {
                if let Err(e) = out.line(line) {
                    eprintln!("error: writing to stdout: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line per sender, then one per open request, indented.
fn status_lines(reports: Vec<manyfold_node::senders::SenderReport>) -> Vec<String> {
    if reports.is_empty() {
        return vec!["no sender has sent anything yet".into()];
    }
    let mut lines = Vec::new();
    for report in reports {
        let chain = report
            .chain
            .unwrap_or_else(|| "(not in the deployment file)".into());
        let state = match &report.stopped {
            Some(reason) => format!("STOPPED: {reason}"),
            None => "running".into(),
        };
        lines.push(format!(
            "{chain} (EVM chain id {}) sender {}: {state}; {} request(s) not final",
            report.evm_chain_id,
            report.sender,
            report.open.len()
        ));
        for tx in report.open {
            let state = match &tx.state {
                manyfold_sender::TxState::Unconfirmed => "not in a block".to_owned(),
                manyfold_sender::TxState::Included(i) => {
                    format!(
                        "in block {} ({:?}), tx {}",
                        i.block_number, i.confirmation, i.tx
                    )
                }
                other => format!("{other:?}"),
            };
            let dropped = if tx.dropped {
                " (dropped: sent as a transfer to itself)"
            } else {
                ""
            };
            lines.push(format!(
                "  nonce {} {}{dropped}: {state}",
                tx.nonce, tx.label
            ));
        }
    }
    lines
}

fn chain(args: &ChainArgs) -> ExitCode {
    use manyfold_chain_embedded::{BlockTime, StandaloneConfig};
    init_logs(&args.log);
    let mut config = StandaloneConfig::new(&args.data_dir, args.rpc_addr, args.chain_id);
    config.block_time = BlockTime::from_millis(args.block_time_ms);
    config.block_gas_limit = args.block_gas_limit;
    config.dev_accounts = args.dev_accounts;
    if let Some(words) = &args.mnemonic {
        config.mnemonic = words.clone();
    }
    match args.verifier() {
        Ok(verifier) => config.verifier = verifier,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let shutdown = async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match runtime().block_on(manyfold_chain_embedded::run_standalone(config, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
