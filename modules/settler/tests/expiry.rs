//! The expiry watch against a chain: the oldest open priority request's `expiresAt` comes
//! from its event, the counters and the time from the chain's latest block, exactly as
//! `activateExodusMode` would read them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use manyfold_chain::testing::MockChain;
use manyfold_chain::{Chain, Finality};
use manyfold_contracts::bindings::Secondary;
use manyfold_settler::{ContractReader, Expiry, ExpiryWatch};

const CONTRACT: Address = Address::repeat_byte(0x5e);

fn request(mock: &MockChain, serial: u64, expires_at: u64) {
    let event = Secondary::PriorityRequestAdded {
        serialId: serial,
        opType: 1,
        owner: Address::repeat_byte(0x0a),
        token: 0,
        amount: 5,
        account: 0,
        expiresAt: expires_at,
    };
    let data = event.encode_log_data();
    mock.emit_log(CONTRACT, data.topics().to_vec(), data.data.clone());
    mock.mine();
}

#[tokio::test]
async fn the_oldest_open_request_is_followed_to_its_expiry() {
    let mock = Arc::new(MockChain::new(1));
    let now = mock.mine().timestamp;
    request(&mock, 0, now + 1_000);
    request(&mock, 1, now + 5_000);
    let executed = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(2));
    let (e, t) = (executed.clone(), total.clone());
    mock.on_call(move |call, _| {
        let selector: [u8; 4] = call.input[..4].try_into().unwrap();
        let value = if selector == Secondary::totalExecutedPriorityRequestsCall::SELECTOR {
            e.load(Ordering::SeqCst)
        } else if selector == Secondary::totalPriorityRequestsCall::SELECTOR {
            t.load(Ordering::SeqCst)
        } else {
            panic!("unexpected view {selector:?}")
        };
        Ok(Bytes::from(B256::from(U256::from(value)).to_vec()))
    });
    let chain: Arc<dyn Chain> = mock.clone();
    let reader = |margin| {
        ExpiryWatch::new(
            ContractReader {
                name: "alpha".into(),
                chain: chain.clone(),
                address: CONTRACT,
                finality: Finality::Finalized,
            },
            0,
            margin,
        )
    };
    // The chain's time is its latest block's: two blocks (12 s each) after `now`.
    let head = mock.latest().timestamp;
    let mut watch = reader(100);
    assert_eq!(
        watch.check().await.unwrap(),
        Expiry::Far {
            left: now + 1_000 - head
        }
    );
    let mut watch = reader(2_000);
    assert_eq!(
        watch.check().await.unwrap(),
        Expiry::Near {
            left: now + 1_000 - head
        }
    );
    // Request 0 executed: the next one is the oldest open.
    executed.store(1, Ordering::SeqCst);
    assert_eq!(
        watch.check().await.unwrap(),
        Expiry::Far {
            left: now + 5_000 - head
        }
    );
    executed.store(2, Ordering::SeqCst);
    assert_eq!(watch.check().await.unwrap(), Expiry::NoneOpen);
    // A request that expired before the chain's latest block.
    request(&mock, 2, now);
    total.store(3, Ordering::SeqCst);
    let head = mock.latest().timestamp;
    assert_eq!(
        watch.check().await.unwrap(),
        Expiry::Expired { ago: head - now }
    );
}
