//! The conformance kit against the embedded chain in process, built the way the node builds
//! it (a `[chains.NAME]` section through the registry), on a sled store: a restart drops the
//! plugin and reopens the same store.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use manyfold_chain::{Chain, ChainError, ChainFuture, ChainRegistry, ChainSpec, Finality};
use manyfold_chain_conformance::{run, Check, KitOptions, Target};
use manyfold_chain_embedded::{EmbeddedChain, PluginKeys};
use manyfold_storage::{SledStorage, Storage};
use serde_json::json;

/// The first dev account of the public test mnemonic (anvil's account 0).
const DEV_KEY: [u8; 32] = [
    0xac, 0x09, 0x74, 0xbe, 0xc3, 0x9a, 0x17, 0xe3, 0x6b, 0xa4, 0xa6, 0xb4, 0xd2, 0x38, 0xff, 0x94,
    0x4b, 0xac, 0xb4, 0x78, 0xcb, 0xed, 0x5e, 0xfc, 0xae, 0x78, 0x4d, 0x7b, 0xf4, 0xf2, 0xff, 0x80,
];

struct InProcess {
    dir: PathBuf,
    section: serde_json::Value,
    opened: usize,
}

impl InProcess {
    fn registry(&self) -> ChainRegistry {
        let dir = self.dir.clone();
        let mut registry = ChainRegistry::new();
        registry
            .register(
                "embedded",
                manyfold_chain_embedded::factory(
                    move |_: &str| -> Arc<dyn Storage> {
                        Arc::new(SledStorage::open(&dir).expect("the test's sled directory"))
                    },
                    None,
                ),
            )
            .unwrap();
        registry
    }
}

impl Target for InProcess {
    fn expected_chain_id(&self) -> u64 {
        4_242
    }

    fn funded_key(&self) -> [u8; 32] {
        DEV_KEY
    }

    fn finality(&self) -> Finality {
        Finality::Finalized
    }

    fn open(&mut self) -> ChainFuture<'_, Arc<dyn Chain>> {
        self.opened += 1;
        let built = ChainSpec::parse("hub", &self.section)
            .and_then(|spec| self.registry().build(&spec))
            .map(|b| b.chain)
            .map_err(ChainError::other);
        Box::pin(async move { built })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_chain_passes_the_conformance_kit_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = InProcess {
        dir: dir.path().join("chain"),
        section: json!({"kind": "embedded", "id": 0, "primary": true, "chain_id": 4242}),
        opened: 0,
    };
    let report = run(&mut target, KitOptions::default())
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    // Every transaction is mined as it arrives: nothing stays pending to be replaced.
    let mut expected = Check::ALL.to_vec();
    expected.retain(|c| *c != Check::Underpriced);
    assert_eq!(report.passed(), expected, "{report}");
    assert_eq!(target.opened, 2, "opened, then reopened on the same store");
}

/// Blocks made only when the kit asks: transactions wait in the pool, so a cheaper
/// replacement can be tried (and must be refused).
struct OnDemand {
    inner: InProcess,
    chain: Arc<Mutex<Option<EmbeddedChain>>>,
}

impl Target for OnDemand {
    fn expected_chain_id(&self) -> u64 {
        self.inner.expected_chain_id()
    }

    fn funded_key(&self) -> [u8; 32] {
        DEV_KEY
    }

    fn finality(&self) -> Finality {
        Finality::Blocks(2)
    }

    fn open(&mut self) -> ChainFuture<'_, Arc<dyn Chain>> {
        // Our handle goes first: the store opens only once every handle is dropped.
        self.chain.lock().unwrap().take();
        let dir = self.inner.dir.clone();
        let keep = self.chain.clone();
        let mut registry = ChainRegistry::new();
        registry
            .register(
                "embedded",
                manyfold_chain_embedded::factory_with(
                    move |_: &str| -> Arc<dyn Storage> {
                        Arc::new(SledStorage::open(&dir).expect("the test's sled directory"))
                    },
                    None,
                    move |_: &str, chain: &EmbeddedChain, _: &PluginKeys| {
                        *keep.lock().unwrap() = Some(chain.clone());
                    },
                ),
            )
            .unwrap();
        self.inner.opened += 1;
        let built = ChainSpec::parse("hub", &self.inner.section)
            .and_then(|spec| registry.build(&spec))
            .map(|b| b.chain)
            .map_err(ChainError::other);
        Box::pin(async move { built })
    }

    fn produce_block(&mut self) -> ChainFuture<'_, ()> {
        let chain = self.chain.lock().unwrap().clone();
        Box::pin(async move {
            if let Some(chain) = chain {
                chain.mine().map_err(ChainError::other)?;
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_blocks_made_on_demand_every_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = OnDemand {
        inner: InProcess {
            dir: dir.path().join("chain"),
            // No miner is started in tests: blocks come only from `produce_block`.
            section: json!({"kind": "embedded", "id": 0, "chain_id": 4242, "block_time_ms": 3_600_000}),
            opened: 0,
        },
        chain: Arc::default(),
    };
    let report = run(&mut target, KitOptions::default())
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(report.passed(), Check::ALL, "{report}");
}
