//! The walkthrough on a mixed setup, every part its own process: two anvil nodes are the
//! secondaries (`evm` plugin), the node runs the embedded primary, the contracts are
//! deployed with `manyfold deploy` from a configuration like `config/anvil.toml`.

mod walkthrough;

#[test]
fn funds_cross_from_one_anvil_secondary_to_another() {
    let setup = walkthrough::mixed::on_anvils(&[]);
    let mixed = &setup.mixed;
    let [primary, alpha, beta] = ["primary", "alpha", "beta"].map(|n| mixed.settlement(n));
    walkthrough::run(&mixed.setup, &alpha, &beta);
    walkthrough::assert_settled_once(
        &mixed.setup,
        &[("primary", &primary), ("alpha", &alpha), ("beta", &beta)],
        16,
    );
}
