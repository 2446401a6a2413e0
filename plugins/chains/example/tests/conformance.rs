//! The conformance kit against the example plugin on a real anvil, built the way the node
//! builds it: from a `[chains.NAME]` section, through a `ChainRegistry`.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_chain::{Chain, ChainError, ChainFuture, ChainRegistry, ChainSpec, Finality};
use manyfold_chain_conformance::anvil::{Anvil, ACCOUNT_0_KEY};
use manyfold_chain_conformance::{run, Check, KitOptions, Outcome, Target};
use manyfold_chain_example::{ExampleFactory, KIND};
use serde_json::{json, Value};

/// The example plugin on anvil, as the kit sees it.
struct AnvilTarget {
    anvil: Anvil,
    registry: ChainRegistry,
    /// For `evm_mine`, which is anvil's, not the plugin's.
    admin: HttpClient,
    finality: Finality,
    opened: usize,
}

impl AnvilTarget {
    fn new(args: &[&str], finality: Finality) -> Self {
        let anvil = Anvil::start(args);
        let mut registry = ChainRegistry::new();
        registry.register(KIND, ExampleFactory).unwrap();
        let admin = HttpClientBuilder::default().build(&anvil.url).unwrap();
        Self {
            anvil,
            registry,
            admin,
            finality,
            opened: 0,
        }
    }
}

impl Target for AnvilTarget {
    fn expected_chain_id(&self) -> u64 {
        31_337
    }

    fn funded_key(&self) -> [u8; 32] {
        ACCOUNT_0_KEY
    }

    fn finality(&self) -> Finality {
        self.finality
    }

    /// What the node does: parse the section, build through the registry. A restart builds
    /// a new plugin object against the same anvil (the default `restart`).
    fn open(&mut self) -> ChainFuture<'_, Arc<dyn Chain>> {
        self.opened += 1;
        let section = json!({"kind": KIND, "id": 1, "url": self.anvil.url});
        let built = ChainSpec::parse("anvil", &section)
            .and_then(|spec| self.registry.build(&spec))
            .map(|b| b.chain)
            .map_err(ChainError::other);
        Box::pin(async move { built })
    }

    fn produce_block(&mut self) -> ChainFuture<'_, ()> {
        Box::pin(async move {
            self.admin
                .request::<Value, _>("evm_mine", Vec::<Value>::new())
                .await
                .map(drop)
                .map_err(ChainError::other)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_plugin_passes_the_conformance_kit_on_anvil() {
    // anvil's `finalized` trails `latest` by 64 blocks, so the kit has blocks produced until
    // the transfer is final: the real tag path, not a shortcut.
    let mut target = AnvilTarget::new(&[], Finality::Finalized);
    let options = KitOptions {
        poll: Duration::from_millis(5),
        ..KitOptions::default()
    };
    let report = run(&mut target, options)
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    let mut expected: Vec<Check> = Check::ALL.to_vec();
    expected.retain(|c| *c != Check::Underpriced);
    assert_eq!(report.passed(), expected, "{report}");
    // anvil mines each transaction as it arrives: nothing stays pending to replace (the
    // kit sees it mined either before it asks or before the replacement lands).
    assert!(
        matches!(&report.outcomes[9], (Check::Underpriced, Outcome::Skipped(why)) if why.contains("mined the transaction")),
        "{report}"
    );
    assert_eq!(
        target.opened, 2,
        "opened, and reopened for the restart check"
    );

    // A second run on the same chain (nonces and heads moved on) passes as well.
    let report = run(&mut target, KitOptions::default().skipping(Check::Finality))
        .await
        .unwrap_or_else(|failure| panic!("second run: {failure}"));
    assert_eq!(report.passed().len(), Check::ALL.len() - 2, "{report}");
}

/// anvil mining only when asked (`evm_mine` from `produce_block`): transactions stay
/// pending, both probe calls land in one block, and a cheaper replacement is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_plugin_passes_with_blocks_made_on_demand() {
    let mut target = AnvilTarget::new(&["--no-mining"], Finality::Blocks(3));
    let options = KitOptions {
        poll: Duration::from_millis(5),
        ..KitOptions::default()
    };
    let report = run(&mut target, options)
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(report.passed(), Check::ALL, "{report}");
}
