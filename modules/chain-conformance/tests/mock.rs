//! The kit against `MockChain`, which needs no EVM: the checks that need none pass, and every
//! check that can be made to fail on a mock fails with a message naming what was expected.
//!
//! The mock records transactions without executing them (no balances, nonces or contracts
//! change), so `transfer`, `logs`, `call` and `underpriced` cannot pass on it; they are
//! checked against a real chain by the example plugin's test (anvil). `insufficient_funds`
//! and `nonce_too_low` pass here only with the right error injected.

use std::sync::Arc;
use std::time::Duration;

use manyfold_chain::testing::MockChain;
use manyfold_chain::{Address, Chain, ChainError, ChainFuture, Finality};
use manyfold_chain_conformance::{run, Check, Failure, KitOptions, Outcome, Target};

/// Anvil's account 0: any valid key does for the mock.
const KEY: [u8; 32] = [
    0xac, 0x09, 0x74, 0xbe, 0xc3, 0x9a, 0x17, 0xe3, 0x6b, 0xa4, 0xa6, 0xb4, 0xd2, 0x38, 0xff, 0x94,
    0x4b, 0xac, 0xb4, 0x78, 0xcb, 0xed, 0x5e, 0xfc, 0xae, 0x78, 0x4d, 0x7b, 0xf4, 0xf2, 0xff, 0x80,
];
const KEY_ADDRESS: Address = Address::new([
    0xf3, 0x9f, 0xd6, 0xe5, 0x1a, 0xad, 0x88, 0xf6, 0xf4, 0xce, 0x6a, 0xb8, 0x82, 0x72, 0x79, 0xcf,
    0xff, 0xb9, 0x22, 0x66,
]);

struct MockTarget {
    chain: MockChain,
    expected_chain_id: u64,
    finality: Finality,
    /// Whether `produce_block` mines; otherwise the chain never moves by itself.
    mines: bool,
    opened: usize,
}

impl MockTarget {
    fn new(chain: MockChain) -> Self {
        Self {
            chain,
            expected_chain_id: 7,
            finality: Finality::Finalized,
            mines: true,
            opened: 0,
        }
    }
}

impl Target for MockTarget {
    fn expected_chain_id(&self) -> u64 {
        self.expected_chain_id
    }

    fn funded_key(&self) -> [u8; 32] {
        KEY
    }

    fn finality(&self) -> Finality {
        self.finality
    }

    fn open(&mut self) -> ChainFuture<'_, Arc<dyn Chain>> {
        self.opened += 1;
        let chain: Arc<dyn Chain> = Arc::new(self.chain.clone());
        Box::pin(async move { Ok(chain) })
    }

    fn produce_block(&mut self) -> ChainFuture<'_, ()> {
        if self.mines {
            self.chain.mine();
        }
        Box::pin(async { Ok(()) })
    }
}

fn fast() -> KitOptions {
    KitOptions {
        timeout: Duration::from_millis(300),
        poll: Duration::from_millis(1),
        skip: Vec::new(),
    }
}

/// Options that run only `checks`.
fn only(checks: &[Check]) -> KitOptions {
    KitOptions {
        skip: Check::ALL
            .into_iter()
            .filter(|c| !checks.contains(c))
            .collect(),
        ..fast()
    }
}

async fn failure(target: &mut MockTarget, options: KitOptions) -> Failure {
    run(target, options)
        .await
        .expect_err("the run should have failed")
}

#[tokio::test]
async fn the_checks_that_need_no_evm_pass_on_the_mock() {
    let no_evm: Vec<Check> = Check::ALL.into_iter().filter(|c| !c.needs_evm()).collect();
    assert_eq!(
        no_evm,
        [
            Check::ChainId,
            Check::Heads,
            Check::Finality,
            Check::UnknownTx,
            Check::Restart
        ]
    );
    for finality in [Finality::Finalized, Finality::Safe, Finality::Blocks(4)] {
        let chain = MockChain::new(7);
        chain.set_depths(2, 6);
        chain.mine_n(3);
        let mut target = MockTarget::new(chain.clone());
        target.finality = finality;
        let start = chain.latest().number;
        let report = run(&mut target, only(&no_evm)).await.unwrap();
        assert_eq!(report.passed(), no_evm, "{finality}");
        let skipped: Vec<Check> = report.skipped().iter().map(|(c, _)| *c).collect();
        assert!(skipped.iter().all(|c| c.needs_evm()), "{skipped:?}");
        assert_eq!(report.outcomes.len(), Check::ALL.len());
        assert_eq!(
            target.opened, 2,
            "opened, then reopened by the default restart"
        );
        assert!(
            chain.latest().number >= start + 2,
            "the finality check had blocks produced until the start block was final"
        );
        let text = report.to_string();
        assert!(
            text.starts_with("5 checks passed; transfer skipped: skipped on request"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_wrong_chain_id_is_named_with_both_ids() {
    let mut target = MockTarget::new(MockChain::new(7));
    target.expected_chain_id = 8;
    let err = failure(&mut target, fast()).await;
    assert_eq!(err.check, Check::ChainId);
    assert_eq!(
        err.to_string(),
        "conformance check `chain_id` failed: expected chain id 8, the plugin reports 7"
    );
}

#[tokio::test]
async fn errors_of_the_plugin_name_the_call_that_failed() {
    let chain = MockChain::new(7);
    chain.fail_next_read(ChainError::Timeout("injected".into()));
    let err = failure(&mut MockTarget::new(chain), fast()).await;
    assert_eq!(err.check, Check::ChainId, "the first read counts there");
    assert!(
        err.message
            .starts_with("nonce(funded key, latest) failed: timed out: injected"),
        "{err}"
    );
}

#[tokio::test]
async fn heads_out_of_order_fail() {
    let chain = MockChain::new(7);
    chain.mine_n(10);
    chain.set_depths(5, 2);
    let err = failure(&mut MockTarget::new(chain), fast()).await;
    assert_eq!(err.check, Check::Heads);
    assert_eq!(
        err.message,
        "expected finalized ≤ safe ≤ latest, got finalized 8, safe 5, latest 10"
    );
}

#[tokio::test]
async fn finality_that_never_comes_fails_after_the_timeout() {
    let chain = MockChain::new(7);
    let mut target = MockTarget::new(chain.clone());
    target.finality = Finality::Blocks(3);
    target.mines = false;
    let err = failure(&mut target, only(&[Check::Heads, Check::Finality])).await;
    assert_eq!(err.check, Check::Finality);
    assert!(
        err.message
            .starts_with("final_head(3) did not reach the latest block at the start (0)"),
        "{err}"
    );
    assert!(err.message.contains("Target::produce_block"), "{err}");
    assert_eq!(chain.latest().number, 0);
}

#[tokio::test]
async fn the_mock_sends_and_mines_the_transfer_but_does_not_execute_it() {
    let chain = MockChain::new(7);
    let mut target = MockTarget::new(chain.clone());
    let err = failure(&mut target, only(&[Check::Transfer])).await;
    assert_eq!(err.check, Check::Transfer);
    assert!(
        err.message.starts_with(
            "the recipient's balance was 0 and the transfer sent 1000000007, but balance() now \
             says 0"
        ),
        "{err}"
    );
    let sent = chain.sent();
    assert_eq!(sent.len(), 1, "sent once; the second send was AlreadyKnown");
    assert_eq!(sent[0][0], 0x02, "an EIP-1559 transaction");
    assert!(chain.pending().is_empty(), "mined by produce_block");
}

#[tokio::test]
async fn a_receipt_that_never_comes_fails_after_the_timeout() {
    let mut target = MockTarget::new(MockChain::new(7));
    target.mines = false;
    let err = failure(&mut target, only(&[Check::Transfer])).await;
    assert_eq!(err.check, Check::Transfer);
    assert!(
        err.message.starts_with("no receipt for the transfer"),
        "{err}"
    );
    assert!(err.message.contains("tx_status: Ok(Pending)"), "{err}");
}

#[tokio::test]
async fn the_error_checks_pass_only_with_the_right_errors() {
    let checks = [Check::InsufficientFunds, Check::NonceTooLow];
    let chain = MockChain::new(7);
    // A mined nonce to reuse, without a transaction the mock cannot execute.
    chain.set_nonce(KEY_ADDRESS, 1);
    chain.fail_next_send(ChainError::InsufficientFunds("no ETH".into()));
    chain.fail_next_send(ChainError::NonceTooLow("nonce 0, next 1".into()));
    let report = run(&mut MockTarget::new(chain.clone()), only(&checks))
        .await
        .unwrap();
    assert_eq!(report.passed(), checks);
    assert!(chain.sent().is_empty());

    let err = failure(
        &mut MockTarget::new(chain.clone()),
        only(&[Check::InsufficientFunds]),
    )
    .await;
    assert_eq!(err.check, Check::InsufficientFunds);
    assert!(
        err.message
            .contains("expected ChainError::InsufficientFunds, got Ok(0x"),
        "the mock takes anything: {err}"
    );

    chain.fail_next_send(ChainError::Underpriced("wrong error".into()));
    let err = failure(&mut MockTarget::new(chain), only(&[Check::NonceTooLow])).await;
    assert_eq!(err.check, Check::NonceTooLow);
    assert!(
        err.message.contains(
            "at nonce 0, already mined: expected ChainError::NonceTooLow, got \
             Err(Underpriced(\"wrong error\"))"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_replacement_the_chain_accepts_fails_the_underpriced_check() {
    let chain = MockChain::new(7);
    let err = failure(&mut MockTarget::new(chain), only(&[Check::Underpriced])).await;
    assert_eq!(err.check, Check::Underpriced);
    assert!(
        err.message
            .contains("paying a lower tip (500000000 instead of 1000000000 wei per gas)"),
        "{err}"
    );
    assert!(
        err.message
            .contains("expected ChainError::Underpriced, got Ok("),
        "{err}"
    );
}

#[tokio::test]
async fn skipping_everything_passes_nothing() {
    let mut target = MockTarget::new(MockChain::new(999));
    let report = run(&mut target, only(&[])).await.unwrap();
    assert!(report.passed().is_empty());
    assert_eq!(report.skipped().len(), Check::ALL.len());
    assert!(report
        .outcomes
        .iter()
        .all(|(_, o)| *o == Outcome::Skipped("skipped on request".into())));
    assert_eq!(
        KitOptions::default().skipping(Check::Restart).skip,
        [Check::Restart]
    );
}

#[test]
fn a_run_can_be_spawned() {
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let mut target = MockTarget::new(MockChain::new(7));
    assert_send(run(&mut target, fast()));
    let mut boxed: Box<dyn Target> = Box::new(MockTarget::new(MockChain::new(7)));
    assert_send(run(boxed.as_mut(), fast()));
}
