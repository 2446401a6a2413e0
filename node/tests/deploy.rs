//! `manyfold deploy` on an embedded primary and an anvil secondary: a run that fails half
//! way is continued by the next, and nothing is ever deployed twice.

use std::path::Path;

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_chain::{BlockId, BlockTag, CallRequest};
use manyfold_chain_conformance::anvil::Anvil;
use manyfold_contracts::bindings::Primary;
use manyfold_node::config::{self, CliOverrides, NodeConfig};
use manyfold_node::deploy::{DeployError, Deployment};

/// anvil's account 0, funded on both chains (the embedded chain's dev accounts come from
/// the same public mnemonic).
const DEPLOYER_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEPLOYER: Address = alloy_primitives::address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
const KEY_VAR: &str = "MANYFOLD_TEST_DEPLOY_KEY";

struct Chain(Anvil);

impl Chain {
    fn client(&self) -> HttpClient {
        HttpClientBuilder::default().build(&self.0.url).unwrap()
    }

    async fn set_balance(&self, account: Address, wei: U256) {
        let _: serde_json::Value = self
            .client()
            .request("anvil_setBalance", rpc_params![account, wei])
            .await
            .unwrap();
    }

    async fn nonce(&self, account: Address) -> u64 {
        let n: U256 = self
            .client()
            .request("eth_getTransactionCount", rpc_params![account, "latest"])
            .await
            .unwrap();
        n.to::<u64>()
    }

    async fn code_len(&self, account: Address) -> usize {
        let code: alloy_primitives::Bytes = self
            .client()
            .request("eth_getCode", rpc_params![account, "latest"])
            .await
            .unwrap();
        code.len()
    }
}

fn load(dir: &Path, anvil: &Chain) -> NodeConfig {
    let file = dir.join("deploy.toml");
    std::fs::write(
        &file,
        format!(
            r#"
data_dir = "{data}"

[chains.hub]
kind = "embedded"
id = 0
primary = true
chain_id = 1337

[chains.side]
kind = "evm"
id = 1
finality = 0
url = "{url}"

[deploy]
deployer_key_env = "{KEY_VAR}"
verifying_key_digest = "0x{digest}"
timeout_s = 4

[[deploy.tokens]]
id = 0
chains.hub = {{ address = "0x0000000000000000000000000000000000000000", decimals = 18 }}
chains.side = {{ address = "0x0000000000000000000000000000000000000000", decimals = 18, min_deposit = 1000 }}
"#,
            data = dir.join("data").display(),
            url = anvil.0.url,
            digest = "ab".repeat(32),
        ),
    )
    .unwrap();
    config::load(NodeConfig::default(), Some(&file), &CliOverrides::default()).unwrap()
}

/// The embedded chain's nonce of the deployer, and the code size at `at`, read by opening
/// the chain's store the way the node does.
async fn hub_reads(config: &NodeConfig, at: Address) -> (u64, Vec<u8>) {
    let specs = config.chain_specs().unwrap();
    let chains = manyfold_node::chains::Chains::build(&specs[..1], &config.data_dir, None).unwrap();
    let hub = chains.built[0].chain.clone();
    let nonce = hub
        .nonce(DEPLOYER, BlockId::Tag(BlockTag::Latest))
        .await
        .unwrap();
    // `chainCount()` of the Primary.
    let count = hub
        .call(
            CallRequest::new(at, Primary::chainCountCall {}.abi_encode()),
            BlockId::Tag(BlockTag::Latest),
        )
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    (nonce, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deployment_continues_and_never_deploys_twice() {
    std::env::set_var(KEY_VAR, DEPLOYER_KEY);
    let dir = tempfile::tempdir().unwrap();
    let anvil = Chain(Anvil::start(&[]));
    let config = load(dir.path(), &anvil);

    // The deployer cannot pay on the secondary: the primary is deployed, the secondary
    // times out.
    anvil.set_balance(DEPLOYER, U256::ZERO).await;
    let err = manyfold_node::deploy::run(&config, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::Timeout { chain, done: 0, .. } if chain == "side"),
        "{err}"
    );
    let partial = Deployment::read(&config.deployment_path()).unwrap();
    assert_eq!(
        partial.chains.keys().collect::<Vec<_>>(),
        ["hub"],
        "the file holds what is final"
    );
    let primary = partial.chains["hub"].settlement;
    let (hub_nonce, count) = hub_reads(&config, primary).await;
    assert_eq!(hub_nonce, 4, "Poseidon, verifier, Primary, one token");
    assert_eq!(
        U256::from_be_slice(&count),
        U256::from(2u64),
        "a two-chain Primary"
    );
    assert_eq!(anvil.nonce(DEPLOYER).await, 0);

    // Funded, the re-run continues: nothing more on the primary, the secondary deployed.
    anvil
        .set_balance(DEPLOYER, U256::from(10u64).pow(U256::from(20u64)))
        .await;
    let mut seen = Vec::new();
    let deployment = manyfold_node::deploy::run(&config, |chain, done, total| {
        seen.push((chain.to_owned(), done, total));
    })
    .await
    .unwrap();
    assert_eq!(deployment.chains["hub"], partial.chains["hub"]);
    let side = &deployment.chains["side"];
    assert_eq!(
        (side.id, side.evm_chain_id, side.primary),
        (1, 31337, false)
    );
    assert_eq!(side.settlement, DEPLOYER.create(0));
    assert_eq!(
        side.tokens,
        [manyfold_node::deploy::DeployedToken {
            id: 0,
            address: Address::ZERO,
            decimals: 18
        }],
        "the deployment records what each chain can pay out"
    );
    assert!(anvil.code_len(side.settlement).await > 1000);
    assert_eq!(
        anvil.nonce(DEPLOYER).await,
        2,
        "the Secondary and one token"
    );
    assert_eq!(hub_reads(&config, primary).await.0, 4, "nothing resent");
    assert!(seen.contains(&("side".to_owned(), 2, 2)), "{seen:?}");
    assert_eq!(
        Deployment::read(&config.deployment_path()).unwrap(),
        deployment
    );

    // A third run finds everything done and sends nothing.
    let again = manyfold_node::deploy::run(&config, |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(again, deployment);
    assert_eq!(anvil.nonce(DEPLOYER).await, 2);
    assert_eq!(hub_reads(&config, primary).await.0, 4);

    // The node reads the deployment into its chain set.
    let set = config.chain_set(Some(&deployment)).unwrap();
    let hub = set
        .domain(manyfold_types::ChainId::new(0).unwrap())
        .unwrap();
    assert_eq!((hub.evm_chain_id, hub.settlement), (1337, primary));

    // The secondary renamed: the same deployment continues under the new name, nothing is
    // sent again.
    let mut renamed = config.clone();
    let section = renamed.chains.remove("side").unwrap();
    renamed.chains.insert("side2".into(), section);
    let token = renamed.deploy.tokens[0].chains.remove("side").unwrap();
    renamed.deploy.tokens[0]
        .chains
        .insert("side2".into(), token);
    let moved = manyfold_node::deploy::run(&renamed, |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(moved.chains["side2"], deployment.chains["side"]);
    assert!(!moved.chains.contains_key("side"));
    assert_eq!(anvil.nonce(DEPLOYER).await, 2, "a rename deploys nothing");

    // A changed configuration is refused rather than deployed anew.
    let mut changed = renamed.clone();
    changed.deploy.committee = vec![Address::repeat_byte(5)];
    let err = manyfold_node::deploy::run(&changed, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::PlanChanged { .. }), "{err}");

    // The deploy store lost while the deployment file survives: refused, not redeployed.
    std::fs::remove_dir_all(config.data_dir.join("deploy")).unwrap();
    let err = manyfold_node::deploy::run(&renamed, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("refusing to deploy twice"),
        "{err}"
    );
    assert_eq!(hub_reads(&config, primary).await.0, 4);
    assert_eq!(anvil.nonce(DEPLOYER).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_chains_answering_one_evm_chain_id_are_refused_before_anything_is_sent() {
    std::env::set_var(KEY_VAR, DEPLOYER_KEY);
    let dir = tempfile::tempdir().unwrap();
    let anvil = Chain(Anvil::start(&[]));
    let mut config = load(dir.path(), &anvil);
    let mut twin = config.chains["side"].clone();
    twin["id"] = 2.into();
    config.chains.insert("twin".into(), twin);
    let err = manyfold_node::deploy::run(&config, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("both report EVM chain id 31337"),
        "{err}"
    );
    assert_eq!(anvil.nonce(DEPLOYER).await, 0);
    assert_eq!(
        hub_reads(&config, Address::ZERO).await.0,
        0,
        "nothing on the primary"
    );
}
