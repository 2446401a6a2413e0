//! The chain conformance kit against `EvmChain` over anvil with automine off: blocks come
//! only when the kit asks (so a sent transaction stays pending, and the underpriced
//! replacement check runs).

mod common;

use std::sync::Arc;

use common::*;
use manyfold_chain::{Chain, ChainFuture, Finality};
use manyfold_chain_conformance::{run, KitOptions, Target};

struct EvmTarget {
    anvil: Anvil,
}

impl Target for EvmTarget {
    fn expected_chain_id(&self) -> u64 {
        CHAIN_ID
    }

    fn funded_key(&self) -> [u8; 32] {
        alloy_primitives::hex::decode(KEY0)
            .unwrap()
            .try_into()
            .unwrap()
    }

    fn finality(&self) -> Finality {
        Finality::Finalized
    }

    fn open(&mut self) -> ChainFuture<'_, Arc<dyn Chain>> {
        Box::pin(async move {
            let chain: Arc<dyn Chain> = self.anvil.chain("conformance").await;
            Ok(chain)
        })
    }

    fn produce_block(&mut self) -> ChainFuture<'_, ()> {
        Box::pin(async move {
            self.anvil.mine(1).await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn evm_chain_passes_the_conformance_kit() {
    let anvil = Anvil::start();
    anvil.automine(false).await;
    let mut target = EvmTarget { anvil };
    match run(&mut target, KitOptions::default()).await {
        Ok(report) => assert!(report.skipped().is_empty(), "{report:?}"),
        Err(failure) => panic!("{failure:?}"),
    }
}
