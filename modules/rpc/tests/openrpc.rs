//! The OpenRPC document kept in the repository describes exactly what the server serves.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use manyfold_rpc::{module, OPENRPC_DOCUMENT};
use manyfold_state::L2State;
use manyfold_storage::{MemoryStorage, Storage};

#[test]
fn document_lists_exactly_the_served_methods_and_error_codes() {
    let served: BTreeSet<String> = actix_rt::System::new().block_on(async {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let state = Arc::new(RwLock::new(L2State::new(manyfold_types::ChainSet::local(
            1,
        ))));
        let context = common::context(storage, state, Vec::new(), true, 0);
        module(context).method_names().map(str::to_string).collect()
    });
    let doc: serde_json::Value = serde_json::from_str(OPENRPC_DOCUMENT).unwrap();
    let documented: BTreeSet<String> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(documented, served);

    let documented_codes: BTreeSet<i64> = doc["components"]["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["code"].as_i64().unwrap())
        .collect();
    use manyfold_rpc::errors::codes::*;
    let used: BTreeSet<i64> = [
        INVALID_TRANSACTION,
        BAD_SIGNATURE,
        BAD_NONCE,
        INSUFFICIENT_FUNDS,
        OVERFLOW,
        UNKNOWN_ACCOUNT,
        DUPLICATE,
        MEMPOOL_FULL,
        INVALID_OP,
        UNAVAILABLE,
        METHOD_DISABLED,
    ]
    .into_iter()
    .map(i64::from)
    .collect();
    assert_eq!(documented_codes, used);
}
