//! Exodus (DESIGN §4): once a chain's oldest priority request has waited past its expiry,
//! anyone puts that chain's contract into exodus mode (`exodus`); users then take their
//! funds out without the operator: on the primary, each (account, token) balance of the
//! last executed state once, by Merkle proof (`exit`); on any chain, the deposits no block
//! that counts consumed (`refund`).
//!
//! An exit's proof is built from the primary chain alone, because in exodus the operator
//! (and its node) is gone: the wallet reads the primary's `BlockCommit` events, takes the
//! pubdata of every block up to the last executed one from the calldata of the
//! `commitBlocks` transactions that emitted them, and replays it from genesis with the
//! state machine ([`L2State::replay`]). Pubdata determines every L2 effect (see there), and
//! the replayed root is compared with the executed block's proven state root before
//! anything is sent. The executed block's `StoredBlockInfo` (which `exit` must present) is
//! read from the calldata of the `executeBlocks` transaction that executed it, and checked
//! against the contract's `storedBlockHashes`.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use manyfold_chain::{Log, LogFilter};
use manyfold_contracts::bindings::{Primary, Secondary};
use manyfold_state::L2State;
use manyfold_types::block::fr_to_b256;
use manyfold_types::pubdata::PUBDATA_BYTES;
use manyfold_types::{AccountId, ChainSet, OpPubdata, TokenId};

use super::Wallet;
use crate::amount::{format_amount, format_l2};
use crate::chains::ChainEntry;
use crate::cli::{ExitArgs, ExodusArgs, RefundArgs, TokenSpec};
use crate::error::{Result, WalletError};
use crate::l1::L1;

/// The priority request type of a deposit (`Operations.DEPOSIT`).
const DEPOSIT: u8 = 1;

/// The state of the last block the primary executed, rebuilt from the primary's calldata.
pub(crate) struct ExitRoot {
    /// The executed block as the contract stores it (what `exit` presents).
    pub(crate) block: Primary::StoredBlockInfo,
    /// The L2 state after it.
    pub(crate) state: L2State,
}

impl Wallet<'_> {
    // ------------------------------------------------------------------ exodus

    /// `exodus`: activates exodus mode on a chain whose oldest unprocessed priority request
    /// has expired.
    pub(super) async fn exodus(&mut self, a: &ExodusArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let directory = self.directory().await?;
        let entry = directory.by_name(&a.chain)?;
        let l1 = L1::connect(entry).await?;
        let settlement = l1.check_contract().await?;
        if l1.read(settlement, Primary::exodusModeCall {}).await? {
            eprintln!(
                "chain {} is already in exodus mode; nothing sent",
                entry.name
            );
            return Ok(());
        }
        // The contract looks at the oldest request no executed block consumed.
        let oldest = l1
            .read(settlement, Primary::totalExecutedPriorityRequestsCall {})
            .await?;
        let total = l1
            .read(settlement, Primary::totalPriorityRequestsCall {})
            .await?;
        if oldest >= total {
            return Err(WalletError::usage(format!(
                "chain {} cannot enter exodus mode: no priority request is waiting there \
                 (exodus needs one left unprocessed past its expiry; a deposit there makes one)",
                entry.name
            )));
        }
        let request = l1
            .read(
                settlement,
                Primary::priorityRequestCall { serialId: oldest },
            )
            .await?;
        let call = Primary::activateExodusModeCall {};
        match l1
            .send(
                &key,
                settlement,
                call.abi_encode(),
                U256::ZERO,
                "exodus activation",
                self.timeout,
            )
            .await
        {
            Ok(hash) => {
                eprintln!(
                    "chain {} is in exodus mode: priority request {oldest} expired at {}",
                    entry.name, request.expiresAt
                );
                self.print(hash)
            }
            Err(e) if e.to_string().contains("NoExpiredPriorityRequest") => {
                let now = l1.latest().await?.timestamp;
                Err(WalletError::usage(format!(
                    "chain {} cannot enter exodus mode yet: its oldest waiting priority request \
                     ({oldest}) expires at {} (unix time; the chain's latest block is at {now}, \
                     {} s to go)",
                    entry.name,
                    request.expiresAt,
                    request.expiresAt.saturating_sub(now)
                )))
            }
            Err(e) => Err(e),
        }
    }

    // ------------------------------------------------------------------ refund

    /// `refund`: in exodus mode, makes claimable again the owner's deposits on a chain that
    /// no block that counts consumed, each once.
    pub(super) async fn refund(&mut self, a: &RefundArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let owner = a.owner.unwrap_or(key.address());
        let directory = self.directory().await?;
        let entry = directory.by_name(&a.chain)?;
        let l1 = L1::connect(entry).await?;
        let settlement = l1.check_contract().await?;
        in_exodus(&l1, entry, settlement).await?;
        // The contract's `_firstRefundable`: on the primary, requests no executed block
        // consumed (the exit root is the last executed state); on a secondary, those no
        // committed block consumed.
        let first = if entry.primary {
            l1.read(settlement, Primary::totalExecutedPriorityRequestsCall {})
                .await?
        } else {
            l1.read(settlement, Secondary::totalCommittedPriorityRequestsCall {})
                .await?
        };
        let total = l1
            .read(settlement, Primary::totalPriorityRequestsCall {})
            .await?;
        if first < total {
            eprintln!(
                "chain {}: priority requests {first} to {} may be refunded; looking for {owner}'s deposits",
                entry.name,
                total - 1
            );
        }
        let mut refunded = Vec::new();
        let mut already = 0usize;
        for serial in first..total {
            let request = l1
                .read(
                    settlement,
                    Primary::priorityRequestCall { serialId: serial },
                )
                .await?;
            if request.opType != DEPOSIT || request.owner != owner {
                continue;
            }
            if request.refunded {
                already += 1;
                continue;
            }
            let call = Primary::refundDepositCall { serialId: serial };
            let hash = l1
                .send(
                    &key,
                    settlement,
                    call.abi_encode(),
                    U256::ZERO,
                    &format!("refund of deposit {serial}"),
                    self.timeout,
                )
                .await?;
            let amount = match l1
                .token(TokenId::new(request.token).map_err(|e| l1.fail(e))?)
                .await
            {
                Ok(info) => format_amount(
                    U256::from(request.amount)
                        / U256::from(10u64).pow(U256::from(18 - info.decimals.min(18))),
                    info.decimals,
                ),
                Err(_) => format_l2(request.amount),
            };
            eprintln!(
                "deposit {serial} refunded: {amount} of token {} claimable by {owner} on chain {}",
                request.token, entry.name
            );
            refunded.push((hash, request.token));
        }
        if refunded.is_empty() {
            return Err(WalletError::usage(if already > 0 {
                format!(
                    "nothing to refund for {owner} on chain {}: its {already} unconsumed deposit(s) \
                     were refunded already (claim them with `manyfold wallet claim --chain {}`)",
                    entry.name, entry.name
                )
            } else if entry.primary {
                format!(
                    "nothing to refund for {owner} on chain {}: every deposit of it was consumed \
                     by a block the primary executed, so it is in the exit root \
                     (`manyfold wallet exit`)",
                    entry.name
                )
            } else {
                // A secondary refunds only what no block committed there consumed; what a
                // committed block consumed is in the exit root only if the primary executed
                // that block too (a gap of the contracts when it did not).
                format!(
                    "nothing to refund for {owner} on chain {}: every deposit of it was consumed \
                     by a block committed there; it is in the exit root (`manyfold wallet exit` \
                     on the primary) if the primary executed that block, else the contracts pay \
                     it nowhere",
                    entry.name
                )
            }));
        }
        let mut tokens: Vec<u16> = refunded.iter().map(|(_, t)| *t).collect();
        tokens.sort_unstable();
        tokens.dedup();
        eprintln!(
            "claim the refunds with `manyfold wallet claim --chain {} --token ID` (token {})",
            entry.name,
            tokens
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (hash, _) in refunded {
            self.print(hash)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ exit

    /// `exit`: in exodus mode on the primary, pays this wallet's L2 balances of the last
    /// executed state (every token, or `--token`), each once, proven by Merkle proof.
    pub(super) async fn exit(&mut self, a: &ExitArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let owner = key.address();
        let directory = self.directory().await?;
        let entry = directory.primary()?;
        let l1 = L1::connect(entry).await?;
        let settlement = l1.check_contract().await?;
        in_exodus(&l1, entry, settlement).await?;
        let asked = match a.token {
            Some(TokenSpec::Id(id)) => Some(id),
            Some(TokenSpec::Native) => Some(l1.native_token().await?),
            None => None,
        };
        let root = rebuild_exit_root(&l1, settlement, entry.from_block.unwrap_or(0)).await?;
        let account = root.state.account_id_of(&owner).ok_or_else(|| {
            WalletError::usage(format!(
                "{owner} has no L2 account in the last state the primary executed (block {}): \
                 nothing to exit; deposits no executed block consumed are refunded instead \
                 (`manyfold wallet refund --chain NAME`)",
                root.block.blockNumber
            ))
        })?;
        let info = root.state.account(account).expect("the account exists");
        let tokens: Vec<TokenId> = match asked {
            Some(token) => {
                if !info.balances.contains_key(&token) {
                    return Err(WalletError::usage(format!(
                        "L2 account {account} holds no token {token} in the last executed state \
                         (block {}): nothing to exit",
                        root.block.blockNumber
                    )));
                }
                vec![token]
            }
            None => info.balances.keys().copied().collect(),
        };
        if tokens.is_empty() {
            return Err(WalletError::usage(format!(
                "L2 account {account} holds nothing in the last executed state (block {}): \
                 nothing to exit",
                root.block.blockNumber
            )));
        }
        let mut paid = Vec::new();
        let mut skipped = Vec::new();
        for token in tokens {
            let exited = l1
                .read(
                    settlement,
                    Primary::exitedCall {
                        _0: account.get(),
                        _1: token.get(),
                    },
                )
                .await?;
            if exited {
                skipped.push(format!(
                    "token {token}: already exited (an exit is paid once per account and token)"
                ));
                continue;
            }
            if let Err(e) = l1.token(token).await {
                // Exits are paid on the primary only, from what is registered there.
                skipped.push(format!(
                    "token {token}: cannot exit on the primary ({e}); DESIGN §4: exits are on \
                     the primary only"
                ));
                continue;
            }
            let proof = exit_proof(&root.state, account, token);
            let balance = proof.balance;
            let call = Primary::exitCall {
                lastExecuted: root.block.clone(),
                proof,
            };
            let hash = l1
                .send(
                    &key,
                    settlement,
                    call.abi_encode(),
                    U256::ZERO,
                    &format!("exit of token {token}"),
                    self.timeout,
                )
                .await?;
            eprintln!(
                "exited {} of token {token} from L2 account {account}: claimable by {owner} on \
                 chain {} (`manyfold wallet claim --chain {} --token {token}`)",
                format_l2(balance),
                entry.name,
                entry.name
            );
            paid.push(hash);
        }
        for line in &skipped {
            eprintln!("note: {line}");
        }
        if paid.is_empty() {
            return Err(WalletError::usage(format!(
                "nothing to exit for L2 account {account} on chain {}: {}",
                entry.name,
                skipped.join("; ")
            )));
        }
        for hash in paid {
            self.print(hash)?;
        }
        Ok(())
    }
}

/// Refuses a chain not in exodus mode, saying how to put it there.
async fn in_exodus(l1: &L1, entry: &ChainEntry, settlement: Address) -> Result<()> {
    if l1.read(settlement, Primary::exodusModeCall {}).await? {
        return Ok(());
    }
    Err(WalletError::usage(format!(
        "chain {} is not in exodus mode: once a priority request there has waited past its \
         expiry, anyone activates it with `manyfold wallet exodus --chain {}`",
        entry.name, entry.name
    )))
}

/// The primary's last executed block and the state after it, rebuilt from the primary's
/// own calldata (see the module's documentation). `from_block` is where the contract was
/// deployed (0 when unknown: every block is read).
pub(crate) async fn rebuild_exit_root(
    l1: &L1,
    primary: Address,
    from_block: u64,
) -> Result<ExitRoot> {
    let executed = l1
        .read(primary, Primary::totalBlocksExecutedCall {})
        .await?;
    if executed == 0 {
        return Err(WalletError::usage(format!(
            "the primary (chain {}) executed no block: no balance can exit; deposits are \
             refunded instead (`manyfold wallet refund --chain NAME`)",
            l1.name()
        )));
    }
    let chain_count = l1.read(primary, Primary::chainCountCall {}).await?;
    let head = l1.latest().await?.number;
    eprintln!(
        "reading chain {}'s commits and executions (blocks {from_block} to {head}) to rebuild \
         the state of L2 block {executed}, the last the primary executed",
        l1.name()
    );
    // Reverted blocks are committed again under the same number, later: the last commit of
    // a number is the one that stands, and nothing executed is ever reverted.
    let commits = l1
        .logs(
            LogFilter::range(from_block, head)
                .address(primary)
                .topic(0, Primary::BlockCommit::SIGNATURE_HASH),
        )
        .await?;
    let mut commit_tx: BTreeMap<u32, B256> = BTreeMap::new();
    for log in &commits {
        let event = decode::<Primary::BlockCommit>(l1, log)?;
        if event.blockNumber <= executed {
            commit_tx.insert(event.blockNumber, log.tx_hash);
        }
    }
    let mut state = L2State::new(ChainSet::local(usize::from(chain_count).max(1)));
    let mut calls: HashMap<B256, Primary::commitBlocksCall> = HashMap::new();
    for number in 1..=executed {
        let tx = *commit_tx.get(&number).ok_or_else(|| {
            l1.fail(format!(
                "no BlockCommit event of L2 block {number} at {primary} (is the endpoint's \
                 history complete back to the contract's deployment?)"
            ))
        })?;
        let call = match calls.entry(tx) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => {
                let input = l1.input_of(tx).await?;
                slot.insert(Primary::commitBlocksCall::abi_decode(&input).map_err(|e| {
                    l1.fail(format!(
                        "transaction {tx} emitted the commit of L2 block {number} but is not a \
                         direct commitBlocks call ({e}); its pubdata cannot be read from calldata"
                    ))
                })?)
            }
        };
        let block = call
            .blocks
            .iter()
            .find(|b| b.blockNumber == number)
            .ok_or_else(|| {
                l1.fail(format!(
                    "transaction {tx} committed no L2 block {number}, though it emitted its commit"
                ))
            })?;
        replay_block(&mut state, number, &block.pubdata)?;
        if number % 50 == 0 || number == executed {
            eprintln!("replayed L2 blocks up to {number} of {executed}");
        }
    }
    let block = executed_block(l1, primary, executed, from_block, head).await?;
    if fr_to_b256(&state.root()) != block.stateRoot {
        return Err(l1.fail(format!(
            "replaying the committed pubdata to L2 block {executed} gives state root {}, not \
             the executed root {}",
            fr_to_b256(&state.root()),
            block.stateRoot
        )));
    }
    Ok(ExitRoot { block, state })
}

/// Replays one block's pubdata (64-byte records) onto `state`.
pub(crate) fn replay_block(state: &mut L2State, number: u32, pubdata: &[u8]) -> Result<()> {
    if !pubdata.len().is_multiple_of(PUBDATA_BYTES) {
        return Err(WalletError::usage(format!(
            "the pubdata of L2 block {number} is not whole {PUBDATA_BYTES}-byte records"
        )));
    }
    for (i, record) in pubdata.chunks(PUBDATA_BYTES).enumerate() {
        let op = OpPubdata::decode(record).map_err(|e| {
            WalletError::usage(format!(
                "L2 block {number}, op {i}: unreadable pubdata: {e}"
            ))
        })?;
        state.replay(&op).map_err(|e| {
            WalletError::usage(format!("L2 block {number}, op {i} does not replay: {e}"))
        })?;
    }
    Ok(())
}

/// The `StoredBlockInfo` of executed block `sequence`: from the calldata of the
/// `executeBlocks` call that executed it (the call checked it against the stored hash, as
/// the event shows), checked again against `storedBlockHashes`.
async fn executed_block(
    l1: &L1,
    primary: Address,
    sequence: u32,
    from_block: u64,
    head: u64,
) -> Result<Primary::StoredBlockInfo> {
    let logs = l1
        .logs(
            LogFilter::range(from_block, head)
                .address(primary)
                .topic(0, Primary::BlockExecuted::SIGNATURE_HASH)
                .topic(1, B256::from(U256::from(sequence))),
        )
        .await?;
    let log = logs.last().ok_or_else(|| {
        l1.fail(format!(
            "no BlockExecuted event of L2 block {sequence} at {primary}"
        ))
    })?;
    let input = l1.input_of(log.tx_hash).await?;
    let call = Primary::executeBlocksCall::abi_decode(&input).map_err(|e| {
        l1.fail(format!(
            "transaction {} executed L2 block {sequence} but is not a direct executeBlocks \
             call ({e})",
            log.tx_hash
        ))
    })?;
    let block = call
        .blocks
        .into_iter()
        .map(|b| b.storedBlock)
        .find(|b| b.blockSequence == sequence)
        .ok_or_else(|| {
            l1.fail(format!(
                "transaction {} does not carry L2 block {sequence}",
                log.tx_hash
            ))
        })?;
    let stored = l1
        .read(primary, Primary::storedBlockHashesCall(sequence))
        .await?;
    if keccak256(block.abi_encode()) != stored {
        return Err(l1.fail(format!(
            "the executed block {sequence} read from calldata is not the one the contract stores"
        )));
    }
    Ok(block)
}

fn decode<E: SolEvent>(l1: &L1, log: &Log) -> Result<E> {
    E::decode_raw_log(log.topics.iter().copied(), &log.data)
        .map_err(|e| l1.fail(format!("unreadable {} log: {e}", E::SIGNATURE)))
}

/// The contract's `ExitProof` of `account`'s balance of `token` in `state`.
pub(crate) fn exit_proof(
    state: &L2State,
    account: AccountId,
    token: TokenId,
) -> Primary::ExitProof {
    let proof = state.exit_proof(account, token);
    let flat = |path: &manyfold_state::tree::MerklePath| -> Vec<B256> {
        path.0.iter().flatten().map(fr_to_b256).collect()
    };
    let balance_siblings: [B256; 15] = flat(&proof.balance.path)
        .try_into()
        .expect("a balance path has 5 levels of 3 siblings");
    let account_siblings: [B256; 36] = flat(&proof.account.path)
        .try_into()
        .expect("an account path has 12 levels of 3 siblings");
    Primary::ExitProof {
        account: account.get(),
        token: token.get(),
        balance: proof.balance.balance.0,
        owner: proof.account.address.unwrap_or(Address::ZERO),
        pubkeyHash: fr_to_b256(&proof.account.pubkey_hash.0),
        nonce: proof.account.nonce.0,
        balanceSiblings: balance_siblings,
        accountSiblings: account_siblings,
        reservesRoot: fr_to_b256(&proof.account.reserves_root),
        accountCount: proof.account.account_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_types::{Amount, ChainId, Deposit, Op};

    fn deposit(address: Address, token: u16, amount: u128) -> Op {
        Op::Deposit(Deposit {
            chain: ChainId::new(1).unwrap(),
            serial_id: 0,
            address,
            token: TokenId::new(token).unwrap(),
            amount: Amount(amount),
        })
    }

    /// A commit call's pubdata, encoded and decoded as the chain carries it, replays to the
    /// root the ops reached; the exit proof built from it holds against that root.
    #[test]
    fn commit_calldata_replays_to_the_root_and_proves_an_exit() {
        let chains = ChainSet::local(3);
        let mut reference = L2State::new(chains.clone());
        let alice = Address::repeat_byte(0xa1);
        let bob = Address::repeat_byte(0xb0);
        let mut pubdata = Vec::new();
        for op in [
            deposit(alice, 0, 5),
            deposit(bob, 1, 7),
            deposit(alice, 1, 3),
        ] {
            pubdata.extend_from_slice(&reference.apply(&op).unwrap().pubdata.encode());
        }
        let call = Primary::commitBlocksCall {
            last: Default::default(),
            lastSyncHashes: vec![],
            blocks: vec![Primary::CommitBlockInfo {
                blockNumber: 1,
                timestamp: 0,
                newStateRoot: fr_to_b256(&reference.root()),
                pubdata: pubdata.into(),
                changePubKeySignatures: vec![],
            }],
        };
        let decoded = Primary::commitBlocksCall::abi_decode(&call.abi_encode()).unwrap();
        let mut replica = L2State::new(ChainSet::local(3));
        replay_block(&mut replica, 1, &decoded.blocks[0].pubdata).unwrap();
        assert_eq!(replica.root(), reference.root());

        let account = replica.account_id_of(&alice).unwrap();
        let proof = exit_proof(&replica, account, TokenId::new(1).unwrap());
        assert_eq!(proof.balance, 3);
        assert_eq!(proof.owner, alice);
        assert_eq!(proof.accountCount, 2);
        let native = replica.exit_proof(account, TokenId::new(1).unwrap());
        assert!(native.verify(replica.root()));

        // A torn record is refused.
        let err = replay_block(&mut replica, 2, &[1u8; 10]).unwrap_err();
        assert!(err.to_string().contains("whole 64-byte records"), "{err}");
    }
}
