//! The walkthrough on a mixed setup, every part its own process: two anvil nodes are the
//! secondaries (`evm` plugin), the node runs the embedded primary, the contracts are
//! deployed with `manyfold deploy` from a configuration like `config/anvil.toml`.

mod walkthrough;

use manyfold_chain_conformance::anvil::Anvil;

#[test]
fn funds_cross_from_one_anvil_secondary_to_another() {
    let alpha = Anvil::start(&["--chain-id", "31338"]);
    let beta = Anvil::start(&["--chain-id", "31339"]);
    let dir = tempfile::tempdir().unwrap();
    let mixed = walkthrough::mixed::start(
        dir.path(),
        alpha.port,
        beta.port,
        [alpha.port, beta.port],
        &[],
    );
    let [primary, alpha, beta] = ["primary", "alpha", "beta"].map(|n| mixed.settlement(n));
    walkthrough::run(&mixed.setup, &alpha, &beta);
    walkthrough::assert_settled_once(
        &mixed.setup,
        &[("primary", &primary), ("alpha", &alpha), ("beta", &beta)],
        16,
    );
}
