//! What `manyfold devnet` prints once it is up: the endpoints, the dev keys and a short
//! walkthrough. Nothing else goes to stdout.

use crate::deploy::Deployment;
use crate::settlement::{dev_key, DEV_COMMITTEE, DEV_DEPLOYER, DEV_OPERATOR};
use crate::stdout::UserOut;
use crate::RunningNode;

fn address(index: u32) -> alloy_primitives::Address {
    manyfold_sender::LocalSigner::from_bytes(&dev_key(index))
        .map(|s| manyfold_sender::TxSigner::address(&s))
        .expect("dev keys are valid")
}

/// The welcome text, line by line.
pub fn welcome(node: &RunningNode, deployment: &Deployment) -> Vec<String> {
    let mut lines = vec![
        "Manyfold devnet: one L2 settled on three local chains.".to_owned(),
        String::new(),
        format!("  L2 node JSON-RPC   http://{}", node.rpc_addr),
    ];
    let endpoints = node
        .settlement
        .as_ref()
        .map(|s| s.endpoints.clone())
        .unwrap_or_default();
    let mut chains: Vec<_> = deployment.chains.iter().collect();
    chains.sort_by_key(|(_, c)| c.id);
    for (name, chain) in chains {
        let endpoint = endpoints
            .get(name)
            .map_or_else(|| "(not served)".to_owned(), |a| format!("http://{a}"));
        lines.push(format!(
            "  {:<8} (id {}{})  {endpoint}  EVM chain id {}  settlement {}",
            name,
            chain.id,
            if chain.primary { ", primary" } else { "" },
            chain.evm_chain_id,
            chain.settlement
        ));
        for token in &chain.tokens {
            let what = if token.address.is_zero() {
                "native coin".to_owned()
            } else {
                format!("ERC-20 {}", token.address)
            };
            lines.push(format!(
                "             L2 token {}: {what}, {} decimals",
                token.id, token.decimals
            ));
        }
    }
    lines.push(String::new());
    lines.push(
        "Dev accounts (public test mnemonic \"test test ... junk\"; each holds ETH and DUSD on every chain):"
            .to_owned(),
    );
    for index in 0..DEV_DEPLOYER {
        lines.push(format!(
            "  dev{index}  {}  key 0x{}",
            address(index),
            alloy_primitives::hex::encode(dev_key(index))
        ));
    }
    lines.push(format!(
        "  (dev{DEV_DEPLOYER} deployed the contracts, dev{DEV_OPERATOR} is the operator, dev{DEV_COMMITTEE} the 1-of-1 committee: leave them to the node)"
    ));
    let to = address(1);
    lines.extend([
        String::new(),
        "Try (each command waits and shows its progress on stderr):".to_owned(),
        "  manyfold wallet --dev 0 deposit --chain alpha --token 0 --amount 1".to_owned(),
        "  manyfold wallet --dev 0 deposit --chain alpha --token 1 --amount 100".to_owned(),
        format!("  manyfold wallet --dev 0 transfer --to {to} --token 0 --amount 0.5"),
        format!("  manyfold wallet --dev 1 withdraw --chain beta --to {to} --token 0 --amount 0.25 --wait"),
        "  manyfold wallet --dev 1 claim --chain beta --token 0".to_owned(),
        "  manyfold wallet --dev 1 balance".to_owned(),
        String::new(),
        "Ctrl-C stops the devnet; starting it again resumes where it stopped.".to_owned(),
    ]);
    lines
}

/// Prints [`welcome`] to the user's stdout.
pub fn print_welcome(
    out: &mut UserOut,
    node: &RunningNode,
    deployment: &Deployment,
) -> std::io::Result<()> {
    for line in welcome(node, deployment) {
        out.line(line)?;
    }
    Ok(())
}
