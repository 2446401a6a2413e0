//! The mixed setup, every part its own process: two anvil nodes are the secondaries
//! (`evm` plugin), the node runs the embedded primary, the contracts are deployed with
//! `manyfold deploy` from a configuration like `config/anvil.toml`. Each secondary's URL
//! may be a [`super::proxy::Proxy`] in front of its anvil.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use manyfold_chain_conformance::anvil::{free_port, Anvil};
use serde_json::Value;

use super::Setup;

/// anvil's accounts 7, 8 and 9 (the public test mnemonic): the deployer, the operator and
/// the committee, as in config/anvil.toml.
pub(crate) const DEPLOYER_KEY: &str =
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356";
pub(crate) const OPERATOR_KEY: &str =
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";
pub(crate) const COMMITTEE_KEY: &str =
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";

/// How the node reaches the primary.
pub(crate) enum PrimaryChain {
    /// The node's own embedded chain, serving Ethereum JSON-RPC on this port.
    Embedded(u16),
    /// The embedded chain run alone (`manyfold chain --verifier-params`) on this port,
    /// reached as kind `evm` with `verifies_proofs = true`.
    Standalone(u16),
}

/// The node's configuration: its secondaries reached at loopback ports `alpha` and
/// `beta`; priority requests expire (and governance waits) `expiry_s` seconds; with
/// `dev_token`, the deployment also makes the dev ERC-20 (DUSD) on alpha, held by dev
/// accounts 0 to 6.
pub(crate) fn config(
    data: &Path,
    node_port: u16,
    primary: PrimaryChain,
    (alpha, beta): (u16, u16),
    expiry_s: u64,
    dev_token: bool,
) -> String {
    let primary = match primary {
        PrimaryChain::Embedded(port) => format!(
            "kind = \"embedded\"\nfinality = \"finalized\"\nrpc = \"127.0.0.1:{port}\""
        ),
        PrimaryChain::Standalone(port) => format!(
            "kind = \"evm\"\nfinality = 0\nurl = \"http://127.0.0.1:{port}\"\nverifies_proofs = true"
        ),
    };
    let dev_token = if dev_token {
        let holders: Vec<String> = (0..7)
            .map(|i| {
                let secret = manyfold_types::mnemonic::dev_secret(
                    "test test test test test test test test test test test junk",
                    i,
                )
                .unwrap();
                let key = k256::ecdsa::SigningKey::from_slice(secret.as_slice()).unwrap();
                format!("\"{}\"", manyfold_types::ecdsa::eth_address(&key))
            })
            .collect();
        format!(
            "dev_token = {{ id = 1, name = \"Dev USD\", symbol = \"DUSD\", decimals = 6, holders = [{}], amount_each = \"0xe8d4a51000\" }}",
            holders.join(", ")
        )
    } else {
        String::new()
    };
    format!(
        r#"
data_dir = "{data}"
[rpc]
addr = "127.0.0.1:{node_port}"
[metrics]
enabled = false
[block]
max_block_time_ms = 300
[prover]
enabled = true
insecure_devnet_setup = true
[chains.primary]
id = 0
primary = true
chain_id = 31337
{primary}
[chains.alpha]
kind = "evm"
id = 1
finality = 0
url = "http://127.0.0.1:{alpha}"
[chains.beta]
kind = "evm"
id = 2
finality = 0
url = "http://127.0.0.1:{beta}"
[settlement]
operator_key_env = "TEST_OPERATOR_KEY"
committee_key_envs = ["TEST_COMMITTEE_KEY"]
[deploy]
deployer_key_env = "TEST_DEPLOYER_KEY"
operator = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
committee = ["0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"]
threshold = 1
priority_expiry_s = {expiry_s}
governance_delay_s = {expiry_s}
{dev_token}
[[deploy.tokens]]
id = 0
chains.primary = {{ address = "0x0000000000000000000000000000000000000000", decimals = 18 }}
chains.alpha = {{ address = "0x0000000000000000000000000000000000000000", decimals = 18 }}
chains.beta = {{ address = "0x0000000000000000000000000000000000000000", decimals = 18 }}
"#,
        data = data.display(),
    )
}

/// `manyfold ARGS --config CONFIG` with the setup's keys, and the prover parameters in
/// `params`.
pub(crate) fn manyfold(args: &[&str], config: &Path, params: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_manyfold"));
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env("MANYFOLD_PROVER__PARAMS_DIR", params)
        .env("TEST_DEPLOYER_KEY", DEPLOYER_KEY)
        .env("TEST_OPERATOR_KEY", OPERATOR_KEY)
        .env("TEST_COMMITTEE_KEY", COMMITTEE_KEY);
    command
}

/// A running mixed setup and its deployment file (as JSON).
pub(crate) struct Mixed {
    pub(crate) setup: Setup,
    pub(crate) deployment: Value,
}

impl Mixed {
    /// Chain `name`'s settlement contract.
    pub(crate) fn settlement(&self, name: &str) -> String {
        self.deployment["chains"][name]["settlement"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Deploys with `manyfold deploy` and starts the node in `dir`, its secondaries reached at
/// loopback ports `alpha` and `beta`; `chains` are the (name, port) the wallet reads each
/// chain at directly. `env`: more settings for the node (`MANYFOLD_...` variables).
pub(crate) fn start(
    dir: &Path,
    alpha: u16,
    beta: u16,
    chains: [u16; 2],
    env: &[(&str, &str)],
) -> Mixed {
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
    let _ = manyfold_prover::testing::devnet_params(&shared, 3);
    let data = dir.join("node");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(shared.join("ptau"), data.join("insecure-ptau")).unwrap();
    let (node_port, primary_port) = (free_port(), free_port());
    let file = dir.join("mixed.toml");
    let text = config(
        &data,
        node_port,
        PrimaryChain::Embedded(primary_port),
        (alpha, beta),
        3600,
        true,
    );
    std::fs::write(&file, text).unwrap();
    let params = shared.join("params");

    // `manyfold deploy` prints the deployment file's path, and nothing else, on stdout.
    let deployed = manyfold(&["deploy", "--log", "warn"], &file, &params)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(deployed.status.success(), "{deployed:?}");
    let path = String::from_utf8(deployed.stdout).unwrap();
    let deployment: Value =
        serde_json::from_str(&std::fs::read_to_string(path.trim()).unwrap()).unwrap();

    let log = dir.join("node.log");
    let node = manyfold(&["node", "--log", "info"], &file, &params)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let setup = Setup {
        children: vec![node],
        node: format!("http://127.0.0.1:{node_port}"),
        chains: vec![
            ("primary".into(), format!("http://127.0.0.1:{primary_port}")),
            ("alpha".into(), format!("http://127.0.0.1:{}", chains[0])),
            ("beta".into(), format!("http://127.0.0.1:{}", chains[1])),
        ],
        external: vec!["alpha".into(), "beta".into()],
        log,
        metrics: None,
    };
    super::wait_until("the node", Duration::from_secs(120), || {
        setup.wallet(&["--dev", "0", "balance"]).is_ok()
    });
    Mixed { setup, deployment }
}

/// The mixed setup on two fresh anvil secondaries (chain ids 31338 and 31339), in a
/// directory of its own; dropped, the node goes first, then the anvils, then the files.
pub(crate) struct OnAnvils {
    pub(crate) mixed: Mixed,
    pub(crate) alpha: Anvil,
    pub(crate) beta: Anvil,
    _dir: tempfile::TempDir,
}

/// [`start`] on two fresh anvils, with `env` for the node.
pub(crate) fn on_anvils(env: &[(&str, &str)]) -> OnAnvils {
    let alpha = Anvil::start(&["--chain-id", "31338"]);
    let beta = Anvil::start(&["--chain-id", "31339"]);
    let dir = tempfile::tempdir().unwrap();
    let mixed = start(
        dir.path(),
        alpha.port,
        beta.port,
        [alpha.port, beta.port],
        env,
    );
    OnAnvils {
        mixed,
        alpha,
        beta,
        _dir: dir,
    }
}
