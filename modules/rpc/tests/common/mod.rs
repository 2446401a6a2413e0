//! The harness of the API tests: a context over one storage, with the mempool and the
//! block builder running. Call it inside an actix system.

use std::sync::Arc;
use std::time::Duration;

use manyfold_block_builder::{BlockBuilderActor, BlockBuilderConfig, BlockStore};
use manyfold_mempool::{MempoolActor, MempoolConfig};
use manyfold_rpc::api::ChainInfo;
use manyfold_rpc::RpcContext;
use manyfold_settler::{HoldStore, StageStore};
use manyfold_state::SharedState;
use manyfold_storage::Storage;

/// The API over `storage` and `state`, configured with `chains`. With `settles`, it reads
/// stages from a [`StageStore`] on `storage` and forwards a fresh stage broadcast (take
/// its sender from `stage_events`). The builder seals as soon as one op waits, and reads
/// `clock` as the time.
pub(crate) fn context(
    storage: Arc<dyn Storage>,
    state: SharedState,
    chains: Vec<ChainInfo>,
    settles: bool,
    clock: u64,
) -> RpcContext {
    let mempool = MempoolActor::new(
        MempoolConfig::default(),
        storage.clone(),
        state.clone(),
        Default::default(),
    )
    .start_supervised(Duration::from_secs(1));
    let builder = BlockBuilderActor::new(
        BlockBuilderConfig {
            max_ops_per_block: 1,
            ..BlockBuilderConfig::default()
        },
        storage.clone(),
        state.clone(),
        mempool.clone(),
    )
    .with_clock(Arc::new(move || clock))
    .start_supervised();
    RpcContext {
        mempool,
        state,
        blocks: BlockStore::new(storage.clone()),
        builder,
        chains,
        allow_priority_injection: false,
        stages: settles.then(|| StageStore::new(storage.clone())),
        stage_events: settles.then(|| tokio::sync::broadcast::channel(16).0),
        holds: settles.then(|| HoldStore::new(storage)),
        exit_replica: Default::default(),
    }
}
