//! A plugin written outside the crate, with only its public API: what a plugin author
//! writes, from the factory's keys to the traits, and how the node builds it.

use std::sync::Arc;

use manyfold_chain::{
    check_primary, parse_chains, Address, BlockId, BlockRef, BlockTag, Bytes, CallRequest,
    Capabilities, Chain, ChainError, ChainFees, ChainFuture, ChainReader, ChainRegistry,
    ChainSender, ChainSpec, ConfigError, FeeEstimate, Finality, Log, LogFilter, PluginSection,
    Receipt, TxStatus, B256, U256,
};

/// A chain frozen at one height that refuses every transaction.
struct Frozen {
    height: u64,
    verifies: bool,
}

impl Frozen {
    fn block(&self, number: u64) -> BlockRef {
        BlockRef {
            number,
            hash: B256::with_last_byte(number as u8 + 1),
            parent_hash: B256::with_last_byte(number as u8),
            timestamp: number * 12,
        }
    }
}

impl ChainReader for Frozen {
    fn chain_id(&self) -> ChainFuture<'_, u64> {
        Box::pin(async { Ok(7) })
    }

    fn block(&self, id: BlockId) -> ChainFuture<'_, Option<BlockRef>> {
        Box::pin(async move {
            Ok(match id {
                BlockId::Number(n) if n <= self.height => Some(self.block(n)),
                BlockId::Tag(BlockTag::Latest) => Some(self.block(self.height)),
                BlockId::Tag(tag) => return Err(ChainError::Unsupported(format!("{tag} tag"))),
                _ => None,
            })
        })
    }

    fn logs(&self, _filter: LogFilter) -> ChainFuture<'_, Vec<Log>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn call(&self, _call: CallRequest, _at: BlockId) -> ChainFuture<'_, Bytes> {
        Box::pin(async {
            Err(ChainError::Reverted {
                tx: None,
                reason: None,
                data: Bytes::new(),
            })
        })
    }

    fn receipt(&self, _tx: B256) -> ChainFuture<'_, Option<Receipt>> {
        Box::pin(async { Ok(None) })
    }

    fn nonce(&self, _account: Address, _at: BlockId) -> ChainFuture<'_, u64> {
        Box::pin(async { Ok(0) })
    }

    fn balance(&self, _account: Address, _at: BlockId) -> ChainFuture<'_, U256> {
        Box::pin(async { Ok(U256::ZERO) })
    }
}

impl ChainFees for Frozen {
    fn estimate_fees(&self) -> ChainFuture<'_, FeeEstimate> {
        Box::pin(async {
            Ok(FeeEstimate {
                base_fee_per_gas: 1,
                max_fee_per_gas: 3,
                max_priority_fee_per_gas: 1,
            })
        })
    }

    fn estimate_gas(&self, _call: CallRequest) -> ChainFuture<'_, u64> {
        Box::pin(async { Ok(21_000) })
    }
}

impl ChainSender for Frozen {
    fn send_raw(&self, _signed: Bytes) -> ChainFuture<'_, B256> {
        Box::pin(async { Err(ChainError::other(std::io::Error::other("frozen"))) })
    }

    fn tx_status(&self, _tx: B256) -> ChainFuture<'_, TxStatus> {
        Box::pin(async { Ok(TxStatus::Unknown) })
    }
}

impl Chain for Frozen {
    fn capabilities(&self) -> Capabilities {
        if self.verifies {
            Capabilities::NONE.with_proof_verification()
        } else {
            Capabilities::default()
        }
    }
}

fn frozen_factory(
    _spec: &ChainSpec,
    section: &mut PluginSection,
) -> Result<Arc<dyn Chain>, ConfigError> {
    Ok(Arc::new(Frozen {
        height: section.require("height")?,
        verifies: section.take_or("verifier", false)?,
    }))
}

#[tokio::test]
async fn a_plugin_from_outside_registers_builds_and_answers() {
    let mut registry = ChainRegistry::new();
    registry.register("frozen", frozen_factory).unwrap();

    // As the node will read it from `[chains.NAME]` sections.
    let config: manyfold_chain::Table = serde_json::from_str(
        r#"{
            "home": {"kind": "frozen", "id": 0, "primary": true, "height": 20, "verifier": true},
            "away": {"kind": "frozen", "id": 1, "finality": 5, "height": 3}
        }"#,
    )
    .unwrap();
    let specs = parse_chains(&config).unwrap();
    let chains = registry.build_all(&specs).unwrap();
    assert_eq!(check_primary(&chains).unwrap().spec.name, "home");

    let away = &chains[1];
    assert_eq!(away.spec.finality, Finality::Blocks(5));
    assert_eq!(
        away.chain.final_head(away.spec.finality).await.unwrap(),
        None,
        "height 3 has no block 5 deep"
    );
    let home = &chains[0].chain;
    assert_eq!(
        home.final_head(Finality::Blocks(5))
            .await
            .unwrap()
            .map(|b| b.number),
        Some(15)
    );
    let err = home.final_head(Finality::Finalized).await.unwrap_err();
    assert!(matches!(err, ChainError::Unsupported(_)) && !err.is_transient());
    assert!(!home
        .send_raw(Bytes::new())
        .await
        .unwrap_err()
        .is_transient());
}
