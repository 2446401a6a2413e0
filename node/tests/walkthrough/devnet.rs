//! `manyfold devnet` in its own process, as a user starts it: three embedded chains, the
//! contracts deployed on the first start, the real prover with the parameters every test
//! shares (set up once, cached under cargo's target tmp dir).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use manyfold_chain_conformance::anvil::free_port;

use super::Setup;

/// Starts the devnet on free ports; returns it with its welcome, line by line.
pub(crate) fn start_devnet(dir: &Path) -> (Setup, Vec<String>) {
    let ports = (free_port(), [free_port(), free_port(), free_port()]);
    spawn_devnet(dir, ports, &[])
}

/// Starts (or restarts) the devnet in `dir` with the node's and the chains' ports.
/// `env`: more settings (`MANYFOLD_...` variables). Its metrics endpoint is on a free port
/// ([`Setup::metrics`]).
pub(crate) fn spawn_devnet(
    dir: &Path,
    (node_port, chain_ports): (u16, [u16; 3]),
    env: &[(&str, &str)],
) -> (Setup, Vec<String>) {
    // The parameters every test shares (set up once for three chains, cached under cargo's
    // target tmp dir): the devnet loads them instead of setting them up.
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
    if !params_cached(&shared) {
        let _ = manyfold_prover::testing::devnet_params(&shared, 3);
    }
    let data = dir.join("devnet");
    if !data.exists() {
        std::fs::create_dir_all(&data).unwrap();
        std::os::unix::fs::symlink(shared.join("ptau"), data.join("insecure-ptau")).unwrap();
    }
    let chains: Vec<(String, u16)> = ["primary", "alpha", "beta"]
        .into_iter()
        .zip(chain_ports)
        .map(|(name, port)| (name.to_owned(), port))
        .collect();
    // Each start logs to a file of its own (a restart's log beside the first).
    let mut log = dir.join("devnet.log");
    let mut n = 1;
    while log.exists() {
        n += 1;
        log = dir.join(format!("devnet-{n}.log"));
    }
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_manyfold"));
    command
        .args(["devnet", "--log", "info", "--data-dir"])
        .arg(&data)
        .args(["--rpc-addr", &format!("127.0.0.1:{node_port}")])
        .args(["--metrics-addr", &metrics])
        .env("MANYFOLD_PROVER__PARAMS_DIR", shared.join("params"))
        .env("MANYFOLD_BLOCK__MAX_BLOCK_TIME_MS", "300")
        .envs(env.iter().copied());
    for (name, port) in &chains {
        command.env(
            format!("MANYFOLD_CHAINS__{}__RPC", name.to_uppercase()),
            format!("127.0.0.1:{port}"),
        );
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The welcome is the devnet's only output: read it up to its last line.
    let mut welcome = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the devnet exited before its welcome:\n{text}");
        }
        let line = line.trim_end().to_owned();
        let last = line.starts_with("Ctrl-C");
        welcome.push(line);
        if last {
            break;
        }
    }
    // Anything more on stdout (a dependency's stray output) fails the test at the end.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        assert!(rest.is_empty(), "stray stdout after the welcome: {rest:?}");
    });
    let setup = Setup {
        children: vec![child],
        node: format!("http://127.0.0.1:{node_port}"),
        chains: chains
            .into_iter()
            .map(|(name, port)| (name, format!("http://127.0.0.1:{port}")))
            .collect(),
        external: Vec::new(),
        log,
        metrics: Some(metrics),
    };
    (setup, welcome)
}

/// Whether `shared` holds the devnet parameters of the current circuit (their cache file
/// for its shape and powers of tau): then they need not be loaded here, only by the devnet.
fn params_cached(shared: &Path) -> bool {
    use manyfold_prover::params::{cache_key, cache_path, ptau_digest, shape_digest, PtauSource};
    let Ok(ptau) = ptau_digest(&PtauSource::InsecureDevnet(shared.join("ptau"))) else {
        return false;
    };
    cache_path(&shared.join("params"), &cache_key(&shape_digest(3), &ptau)).exists()
}
