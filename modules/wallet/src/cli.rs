//! The command line: `manyfold wallet [OPTIONS] <COMMAND>`.

use std::path::PathBuf;

use alloy_primitives::{Address, B256};
use manyfold_types::{AccountId, TokenId};
use url::Url;

use crate::chains::parse_endpoint;
use crate::error::{Result, WalletError};
use crate::keys::{EthKey, DEV_MNEMONIC};

/// The node's JSON-RPC when `--node` is not given.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8545";

/// The user's wallet: deposits on a settlement chain, L2 transfers and withdrawals,
/// claims, balances and settlement status.
///
/// Only what a command was asked for goes to stdout (a transaction hash, balances,
/// stages); progress and notes go to stderr.
#[derive(Debug, Clone, clap::Args)]
pub struct WalletArgs {
    /// The node's JSON-RPC endpoint.
    #[arg(long, global = true, value_name = "URL", default_value = DEFAULT_NODE)]
    pub node: String,
    /// Environment variable holding the Ethereum secret key (hex).
    #[arg(long, global = true, value_name = "VAR")]
    pub key_env: Option<String>,
    /// File holding the Ethereum secret key (hex); on Unix, readable by its owner only.
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Devnets: use dev account N of the dev mnemonic (by default the public test
    /// mnemonic, whose keys everyone knows).
    #[arg(long, global = true, value_name = "N")]
    pub dev: Option<u32>,
    /// Devnets: the same as `--dev N`, written `--from devN`.
    #[arg(long, global = true, value_name = "devN")]
    pub from: Option<String>,
    /// The mnemonic of `--dev` accounts.
    #[arg(
        long,
        global = true,
        value_name = "WORDS",
        env = "MANYFOLD_DEV_MNEMONIC",
        hide_env_values = true,
        default_value = DEV_MNEMONIC,
        hide_default_value = true
    )]
    pub dev_mnemonic: String,
    /// An Ethereum JSON-RPC endpoint for chain NAME (repeatable); overrides the node's.
    #[arg(long = "chain-rpc", global = true, value_name = "NAME=URL", value_parser = parse_endpoint)]
    pub chain_rpc: Vec<(String, Url)>,
    /// The node's deployment file (`manyfold deploy`): settlement contracts and tokens of
    /// each chain, for a node that does not report them.
    #[arg(long, global = true, value_name = "FILE")]
    pub deployment: Option<PathBuf>,
    /// How long to wait for transactions to be mined and for `withdraw --wait`, in seconds.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 600)]
    pub timeout_s: u64,
    /// Print `balance` and `status` as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: WalletCommand,
}

/// The wallet's commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum WalletCommand {
    /// Deposits on a chain's settlement contract (an ERC-20 is approved first), paying its
    /// priority fee; prints the L1 transaction hash. The L2 account is created or credited
    /// once the node has read the deposit.
    Deposit(DepositArgs),
    /// Registers this wallet's L2 key on its L2 account (ChangePubKey, signed by the
    /// Ethereum key); prints the L2 transaction hash. `transfer` and `withdraw` do it
    /// themselves when the account has no key yet.
    Register(RegisterArgs),
    /// Transfers on L2 to another L2 account; prints the L2 transaction hash.
    Transfer(TransferArgs),
    /// Withdraws from L2 to a chain; prints the L2 transaction hash. Once the block is
    /// executed on that chain, `claim` pays it out there.
    Withdraw(WithdrawArgs),
    /// Pays out on a chain what withdrawals made claimable there; prints the L1
    /// transaction hash.
    Claim(ClaimArgs),
    /// Shows L2 balances and, on each chain, the native balance and what is claimable.
    Balance(BalanceArgs),
    /// Shows each chain's stage of a block, or of a transaction's block.
    Status(StatusArgs),
    /// Puts a chain's contract into exodus mode, which anyone may do once its oldest
    /// unprocessed priority request has expired (the operator stopped serving it); prints
    /// the L1 transaction hash.
    Exodus(ExodusArgs),
    /// In exodus mode, takes this wallet's L2 balances out on the primary, proven against
    /// the last block the primary executed; each (account, token) is paid once. The proof
    /// is rebuilt from the primary chain's own calldata: the node is not needed. Prints one
    /// L1 transaction hash per token; `claim` then pays it out.
    Exit(ExitArgs),
    /// In exodus mode, makes claimable again this wallet's deposits on a chain that no
    /// block consumed (that no block the exit root holds could have credited), each once;
    /// prints one L1 transaction hash per deposit; `claim` then pays them out.
    Refund(RefundArgs),
}

/// `exodus`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExodusArgs {
    /// The chain whose contract enters exodus mode, by name.
    #[arg(long, value_name = "NAME")]
    pub chain: String,
}

/// `exit`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExitArgs {
    /// Only this token (an L2 token id, or `eth` for the primary's native coin); every
    /// token the account holds by default.
    #[arg(long, value_name = "ID|eth", value_parser = parse_token)]
    pub token: Option<TokenSpec>,
}

/// `refund`.
#[derive(Debug, Clone, clap::Args)]
pub struct RefundArgs {
    /// The chain whose deposits are refunded, by name.
    #[arg(long, value_name = "NAME")]
    pub chain: String,
    /// Whose deposits (the owner they were made for, who is paid); this wallet's by default.
    #[arg(long, value_name = "ADDRESS")]
    pub owner: Option<Address>,
}

/// `deposit`.
#[derive(Debug, Clone, clap::Args)]
pub struct DepositArgs {
    /// The chain to deposit on, by name.
    #[arg(long, value_name = "NAME")]
    pub chain: String,
    /// The L2 token id, or `eth` for the chain's native coin.
    #[arg(long, value_name = "ID|eth", value_parser = parse_token)]
    pub token: TokenSpec,
    /// How much, in whole tokens (`1.5`), at most the token's decimals on that chain.
    #[arg(long, value_name = "DECIMAL")]
    pub amount: String,
    /// The L2 owner credited; this wallet's address by default.
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<Address>,
    /// Return once the deposit is mined on its chain, without waiting for the node to
    /// credit it on L2.
    #[arg(long)]
    pub no_wait: bool,
}

/// `register`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegisterArgs {
    /// The chain whose contract checks the Ethereum signature (by name); the primary by
    /// default.
    #[arg(long, value_name = "NAME")]
    pub chain: Option<String>,
}

/// `transfer`.
#[derive(Debug, Clone, clap::Args)]
pub struct TransferArgs {
    /// The recipient: an address with an L2 account, or an L2 account id.
    #[arg(long, value_name = "ADDRESS|ID", value_parser = parse_recipient)]
    pub to: Recipient,
    /// The L2 token id.
    #[arg(long, value_name = "ID", value_parser = parse_token_id)]
    pub token: TokenId,
    /// How much, in whole tokens (L2 amounts have 18 decimals).
    #[arg(long, value_name = "DECIMAL")]
    pub amount: String,
}

/// `withdraw`.
#[derive(Debug, Clone, clap::Args)]
pub struct WithdrawArgs {
    /// The chain to withdraw to, by name.
    #[arg(long, value_name = "NAME")]
    pub chain: String,
    /// Who can claim it there; this wallet's address by default.
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<Address>,
    /// The L2 token id, or `eth` for that chain's native coin.
    #[arg(long, value_name = "ID|eth", value_parser = parse_token)]
    pub token: TokenSpec,
    /// How much, in whole tokens, at most the token's decimals on that chain.
    #[arg(long, value_name = "DECIMAL")]
    pub amount: String,
    /// Wait until the block is executed on that chain, showing each chain's stage.
    #[arg(long)]
    pub wait: bool,
}

/// `claim`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClaimArgs {
    /// The chain to claim on, by name.
    #[arg(long, value_name = "NAME")]
    pub chain: String,
    /// The L2 token id, or `eth` for the chain's native coin.
    #[arg(long, value_name = "ID|eth", value_parser = parse_token)]
    pub token: TokenSpec,
    /// Whose claimable balance to pay out (it is paid to that address); this wallet's by
    /// default.
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<Address>,
}

/// `balance`.
#[derive(Debug, Clone, clap::Args)]
pub struct BalanceArgs {
    /// Whose balances; this wallet's by default.
    #[arg(long, value_name = "ADDRESS")]
    pub address: Option<Address>,
}

/// `status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// An L2 transaction hash, a block number, or `latest`.
    #[arg(value_name = "HASH|BLOCK", value_parser = parse_status_target)]
    pub target: StatusTarget,
}

/// A token as typed: an L2 id or the chain's native coin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSpec {
    /// An L2 token id.
    Id(TokenId),
    /// The named chain's native coin (`eth`).
    Native,
}

/// A transfer's recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// The account of an address.
    Address(Address),
    /// An account id.
    Account(AccountId),
}

/// What `status` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusTarget {
    /// The block of an L2 transaction.
    Transaction(B256),
    /// A block.
    Block(u32),
    /// The last sealed block.
    Latest,
}

/// Parses `--token` for commands that name a chain: an id or `eth`.
pub fn parse_token(text: &str) -> std::result::Result<TokenSpec, String> {
    if ["eth", "native"].contains(&text.to_ascii_lowercase().as_str()) {
        return Ok(TokenSpec::Native);
    }
    parse_token_id(text).map(TokenSpec::Id)
}

/// Parses an L2 token id.
pub fn parse_token_id(text: &str) -> std::result::Result<TokenId, String> {
    let id: u64 = text.parse().map_err(|_| {
        format!(
            "`{text}` is not a token id (a number from 0 to {})",
            TokenId::MAX
        )
    })?;
    TokenId::try_from(id).map_err(|e| e.to_string())
}

fn parse_recipient(text: &str) -> std::result::Result<Recipient, String> {
    if text.starts_with("0x") {
        return text
            .parse()
            .map(Recipient::Address)
            .map_err(|e| format!("`{text}` is not an address: {e}"));
    }
    let id: u64 = text
        .parse()
        .map_err(|_| format!("`{text}` is neither an address (0x…) nor an account id"))?;
    AccountId::try_from(id)
        .map(Recipient::Account)
        .map_err(|e| e.to_string())
}

/// Parses `status`'s argument.
pub fn parse_status_target(text: &str) -> std::result::Result<StatusTarget, String> {
    if text == "latest" {
        return Ok(StatusTarget::Latest);
    }
    if text.len() == 66 && text.starts_with("0x") {
        return text
            .parse()
            .map(StatusTarget::Transaction)
            .map_err(|e| format!("`{text}` is not a transaction hash: {e}"));
    }
    crate::chains::parse_number(text)
        .and_then(|n| u32::try_from(n).ok())
        .map(StatusTarget::Block)
        .ok_or_else(|| {
            format!("`{text}` is neither a transaction hash (0x and 64 hex digits), a block number, nor `latest`")
        })
}

impl WalletArgs {
    /// The Ethereum key the options name, if any; an error when several are given or the
    /// one given cannot be read.
    pub fn key(&self) -> Result<Option<EthKey>> {
        let given = [
            self.key_env.is_some(),
            self.key_file.is_some(),
            self.dev.is_some(),
            self.from.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(WalletError::usage(
                "give one key: --key-env, --key-file, --dev or --from",
            ));
        }
        if let Some(var) = &self.key_env {
            return EthKey::from_env(var).map(Some);
        }
        if let Some(path) = &self.key_file {
            return EthKey::from_file(path).map(Some);
        }
        let dev = match (&self.dev, &self.from) {
            (Some(n), _) => Some(*n),
            (None, Some(from)) => Some(
                from.strip_prefix("dev")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| {
                        WalletError::usage(format!(
                            "--from {from}: write a dev account as devN, e.g. --from dev0"
                        ))
                    })?,
            ),
            (None, None) => None,
        };
        dev.map(|n| EthKey::dev(&self.dev_mnemonic, n)).transpose()
    }

    /// [`WalletArgs::key`], required.
    pub fn require_key(&self) -> Result<EthKey> {
        self.key()?.ok_or_else(|| {
            WalletError::Key(
                "this command signs: pass --key-env VAR or --key-file FILE (on a devnet, --dev N)"
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    /// What the node's binary does: the wallet as a subcommand.
    #[derive(Debug, Parser)]
    #[command(name = "manyfold")]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Wallet(WalletArgs),
    }

    fn parse(args: &[&str]) -> std::result::Result<WalletArgs, clap::Error> {
        let argv = ["manyfold", "wallet"].iter().chain(args).copied();
        let matches = Cli::command().try_get_matches_from(argv)?;
        let Top::Wallet(wallet) = Cli::from_arg_matches(&matches)?.command;
        Ok(wallet)
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn commands_and_global_options_parse_in_any_position() {
        let w = parse(&[
            "deposit",
            "--chain",
            "alpha",
            "--token",
            "eth",
            "--amount",
            "1.5",
            "--dev",
            "1",
            "--node",
            "http://127.0.0.1:9999",
        ])
        .unwrap();
        assert_eq!(w.node, "http://127.0.0.1:9999");
        assert_eq!(w.dev, Some(1));
        assert_eq!(w.timeout_s, 600);
        match w.command {
            WalletCommand::Deposit(d) => {
                assert_eq!(d.chain, "alpha");
                assert_eq!(d.token, TokenSpec::Native);
                assert_eq!(d.amount, "1.5");
                assert_eq!(d.to, None);
            }
            other => panic!("{other:?}"),
        }

        let w = parse(&[
            "--chain-rpc",
            "alpha=http://127.0.0.1:9000",
            "--chain-rpc",
            "beta=http://127.0.0.1:9001",
            "withdraw",
            "--chain",
            "beta",
            "--token",
            "3",
            "--amount",
            "2",
            "--wait",
        ])
        .unwrap();
        assert_eq!(w.chain_rpc.len(), 2);
        assert_eq!(w.chain_rpc[1].0, "beta");
        assert_eq!(w.node, DEFAULT_NODE);
        match w.command {
            WalletCommand::Withdraw(a) => {
                assert!(a.wait);
                assert_eq!(a.token, TokenSpec::Id(TokenId::new(3).unwrap()));
            }
            other => panic!("{other:?}"),
        }

        let w = parse(&["transfer", "--to", "7", "--token", "0", "--amount", "1"]).unwrap();
        match w.command {
            WalletCommand::Transfer(t) => {
                assert_eq!(t.to, Recipient::Account(AccountId::new(7).unwrap()))
            }
            other => panic!("{other:?}"),
        }
        let w = parse(&["status", "0x1f", "--json"]).unwrap();
        assert!(w.json);
        match w.command {
            WalletCommand::Status(s) => assert_eq!(s.target, StatusTarget::Block(31)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_arguments_are_refused_with_what_is_wrong() {
        let err = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(
            err(&["transfer", "--to", "0x12", "--token", "0", "--amount", "1"])
                .contains("not an address")
        );
        assert!(
            err(&["transfer", "--to", "bob", "--token", "0", "--amount", "1"])
                .contains("neither an address")
        );
        assert!(
            err(&["transfer", "--to", "1", "--token", "eth", "--amount", "1"])
                .contains("not a token id")
        );
        assert!(
            err(&["deposit", "--chain", "a", "--token", "5000", "--amount", "1"])
                .contains("token id")
        );
        assert!(err(&["--chain-rpc", "alpha", "balance"]).contains("NAME=URL"));
        assert!(err(&["status", "yesterday"]).contains("neither a transaction hash"));
        assert!(err(&["withdraw", "--token", "0", "--amount", "1"]).contains("--chain"));
    }

    #[test]
    fn status_targets() {
        let hash = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            parse_status_target(&hash).unwrap(),
            StatusTarget::Transaction(hash.parse().unwrap())
        );
        assert_eq!(parse_status_target("12").unwrap(), StatusTarget::Block(12));
        assert_eq!(parse_status_target("latest").unwrap(), StatusTarget::Latest);
        assert!(parse_status_target("99999999999").is_err());
        assert!(parse_status_target(&format!("0x{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn keys_come_from_exactly_one_place() {
        let w = parse(&["balance"]).unwrap();
        assert!(w.key().unwrap().is_none());
        assert!(w.require_key().unwrap_err().to_string().contains("--dev N"));

        let dev = parse(&["balance", "--dev", "0"])
            .unwrap()
            .key()
            .unwrap()
            .unwrap();
        let from = parse(&["balance", "--from", "dev0"])
            .unwrap()
            .key()
            .unwrap()
            .unwrap();
        assert_eq!(dev.address(), from.address());
        assert_eq!(
            dev.address(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
                .parse::<Address>()
                .unwrap()
        );
        let err = parse(&["balance", "--from", "alice"])
            .unwrap()
            .key()
            .unwrap_err();
        assert!(err.to_string().contains("devN"), "{err}");
        let err = parse(&["balance", "--dev", "0", "--key-env", "X"])
            .unwrap()
            .key()
            .unwrap_err();
        assert!(err.to_string().contains("give one key"), "{err}");
        let other = parse(&[
            "balance",
            "--dev",
            "0",
            "--dev-mnemonic",
            "abandon abandon about",
        ])
        .unwrap()
        .key()
        .unwrap()
        .unwrap();
        assert_ne!(other.address(), dev.address());
    }
}
