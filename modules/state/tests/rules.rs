//! Property tests of the state rules: every violation is refused with its typed error and
//! leaves the state exactly as it was; valid sequences give the same root however their
//! commits are batched; Merkle proofs verify and fail when tampered.

use manyfold_state::testing::Scenario;
use manyfold_state::{L2State, StateError};
use manyfold_storage::{MemoryStorage, SledStorage};
use manyfold_types::ecdsa::sign_change_pubkey;
use manyfold_types::{
    AccountId, Amount, ChainId, ChainSet, ChangePubKey, Deposit, Fr, FullExit, Nonce, Op,
    OpPubdata, PrivateKey, PubKeyHash, TokenId, Transfer, Withdraw,
};
use proptest::prelude::*;

fn chain(c: u16) -> ChainId {
    ChainId::new(c).unwrap()
}
fn token(t: u16) -> TokenId {
    TokenId::new(t).unwrap()
}
fn id(a: u32) -> AccountId {
    AccountId::new(a).unwrap()
}
/// The chain set of these tests: three chains, so scenarios may use chains 0 to 2.
fn chains() -> ChainSet {
    ChainSet::local(3)
}
fn domain(c: u16) -> manyfold_types::ChainDomain {
    *chains().domain(chain(c)).unwrap()
}

/// Three users with registered keys; user 0 holds 1000 of token 0, deposited on chain 0.
fn funded() -> (Scenario, L2State) {
    let mut scenario = Scenario::new(4, 2, 2);
    let mut state = L2State::new(chains());
    for (u, amount) in [(0usize, 1000u128), (1, 1), (2, 1)] {
        let deposit = Op::Deposit(Deposit {
            chain: chain(0),
            serial_id: u as u64,
            address: scenario.users[u].address,
            token: token(0),
            amount: Amount(amount),
        });
        state.apply(&deposit).unwrap();
        let cpk = scenario
            .op(
                &state,
                manyfold_state::testing::Action::ChangePubKey { user: u, chain: 0 },
            )
            .unwrap();
        state.apply(&cpk).unwrap();
    }
    (scenario, state)
}

fn transfer(s: &Scenario, from: u32, to: u32, amount: u128, nonce: u32) -> Transfer {
    let _ = s;
    Transfer {
        from: id(from),
        to: id(to),
        token: token(0),
        amount: Amount(amount),
        nonce: Nonce(nonce),
    }
}

/// Applies `op` expecting `expected`, and checks nothing changed.
fn refused(state: &mut L2State, op: Op, expected: impl Fn(&StateError) -> bool) {
    let root = state.root();
    let accounts: Vec<_> = (0..state.account_count() as u32)
        .map(|a| state.account(id(a)))
        .collect();
    let reserves: Vec<_> = (0..2).map(|c| state.reserve(chain(c), token(0))).collect();
    let err = state.apply(&op).expect_err("the op must be refused");
    assert!(expected(&err), "unexpected error {err:?} for {op:?}");
    assert_eq!(state.root(), root, "a refused op changed the root");
    let after: Vec<_> = (0..state.account_count() as u32)
        .map(|a| state.account(id(a)))
        .collect();
    assert_eq!(after, accounts, "a refused op changed an account");
    assert_eq!(
        (0..2)
            .map(|c| state.reserve(chain(c), token(0)))
            .collect::<Vec<_>>(),
        reserves
    );
}

#[test]
fn every_rule_violation_is_refused_and_changes_nothing() {
    let (s, mut state) = funded();
    let k0 = &s.users[0].l2;
    let k1 = &s.users[1].l2;

    // Signature by another key than the registered one.
    refused(
        &mut state,
        Op::Transfer(transfer(&s, 0, 1, 1, 1).sign(k1)),
        |e| *e == StateError::WrongSigner(id(0)),
    );
    // A valid key but a signature over other fields.
    let mut forged = transfer(&s, 0, 1, 1, 1).sign(k0);
    forged.body.amount = Amount(999);
    refused(&mut state, Op::Transfer(forged), |e| {
        *e == StateError::BadSignature
    });
    // Replayed and future nonces.
    for nonce in [0, 2] {
        refused(
            &mut state,
            Op::Transfer(transfer(&s, 0, 1, 1, nonce).sign(k0)),
            |e| {
                matches!(
                    e,
                    StateError::BadNonce {
                        expected: Nonce(1),
                        ..
                    }
                )
            },
        );
    }
    // Overdraw.
    refused(
        &mut state,
        Op::Transfer(transfer(&s, 0, 1, 1001, 1).sign(k0)),
        |e| matches!(e, StateError::InsufficientBalance { .. }),
    );
    // Unknown recipient and sender, self transfer.
    refused(
        &mut state,
        Op::Transfer(transfer(&s, 0, 9, 1, 1).sign(k0)),
        |e| *e == StateError::UnknownAccount(id(9)),
    );
    refused(
        &mut state,
        Op::Transfer(transfer(&s, 9, 0, 1, 0).sign(k0)),
        |e| *e == StateError::UnknownAccount(id(9)),
    );
    refused(
        &mut state,
        Op::Transfer(transfer(&s, 0, 0, 1, 1).sign(k0)),
        |e| *e == StateError::SelfTransfer(id(0)),
    );
    // Withdraw beyond the destination chain's reserve: chain 1 holds nothing.
    let w = Withdraw {
        account: id(0),
        chain: chain(1),
        token: token(0),
        amount: Amount(5),
        to: s.users[0].address,
        nonce: Nonce(1),
    };
    refused(&mut state, Op::Withdraw(w.sign(k0)), |e| {
        matches!(e, StateError::InsufficientReserve { .. })
    });
    refused(
        &mut state,
        Op::Withdraw(
            Withdraw {
                amount: Amount(2000),
                chain: chain(0),
                ..w
            }
            .sign(k0),
        ),
        |e| matches!(e, StateError::InsufficientBalance { .. }),
    );
    // Overflow: user 1 holds the whole amount range of token 1, and chain 1's reserve is full.
    let deposit = |user: usize, c: u16, amount| {
        Op::Deposit(Deposit {
            chain: chain(c),
            serial_id: 9,
            address: s.users[user].address,
            token: token(1),
            amount: Amount(amount),
        })
    };
    state.apply(&deposit(1, 1, u128::MAX)).unwrap();
    state.apply(&deposit(0, 0, 5)).unwrap();
    let t1 = Transfer {
        token: token(1),
        ..transfer(&s, 0, 1, 1, 1)
    };
    refused(&mut state, Op::Transfer(t1.sign(k0)), |e| {
        *e == StateError::BalanceOverflow {
            account: id(1),
            token: token(1),
        }
    });
    // Issue 9 item 5: a deposit that would overflow a balance or a reserve is not refused
    // (that would block its chain's priority lane): it is processed as a refund, which
    // changes nothing on L2, credits no account and says so in its pubdata.
    for (user, c) in [(1usize, 0u16), (2, 1)] {
        let root = state.root();
        let accounts = state.account_count();
        let applied = state.apply(&deposit(user, c, 1)).unwrap();
        assert_eq!(
            applied.pubdata,
            OpPubdata::Deposit {
                chain: chain(c),
                account: id(0),
                token: token(1),
                amount: Amount(1),
                address: s.users[user].address,
                refunded: true,
            }
        );
        assert_eq!(
            applied.onchain_for(),
            Some(chain(c)),
            "its chain refunds it"
        );
        assert_eq!(state.root(), root, "a refunded deposit changes nothing");
        assert_eq!(state.account_count(), accounts, "and creates no account");
    }
    // After all those refusals the valid op still goes through at nonce 1.
    state
        .apply(&Op::Transfer(transfer(&s, 0, 1, 1, 1).sign(k0)))
        .unwrap();
}

#[test]
fn key_rules_are_enforced() {
    let (s, mut state) = funded();
    // User 3 has an account (a deposit made it) but no key: it cannot sign.
    state
        .apply(&Op::Deposit(Deposit {
            chain: chain(0),
            serial_id: 7,
            address: s.users[3].address,
            token: token(0),
            amount: Amount(10),
        }))
        .unwrap();
    let t = Transfer {
        from: id(3),
        to: id(0),
        token: token(0),
        amount: Amount(1),
        nonce: Nonce(0),
    };
    refused(&mut state, Op::Transfer(t.sign(&s.users[3].l2)), |e| {
        *e == StateError::NoKeyRegistered(id(3))
    });

    // ChangePubKey must be signed by the account's own Ethereum key, at its nonce.
    let pkh = s.users[3].l2.public_key().hash();
    let by_other = sign_change_pubkey(&domain(0), &s.users[0].eth, pkh, Nonce(0), id(3));
    let cpk = ChangePubKey {
        account: id(3),
        chain: chain(0),
        pubkey_hash: pkh,
        nonce: Nonce(0),
        eth_signature: by_other,
    };
    refused(&mut state, Op::ChangePubKey(cpk), |e| {
        matches!(e, StateError::BadEthSignature(_))
    });
    let own = sign_change_pubkey(&domain(0), &s.users[3].eth, pkh, Nonce(0), id(3));
    refused(
        &mut state,
        Op::ChangePubKey(ChangePubKey {
            nonce: Nonce(1),
            eth_signature: own,
            ..cpk
        }),
        |e| matches!(e, StateError::BadNonce { .. }),
    );
    let zero = sign_change_pubkey(
        &domain(0),
        &s.users[3].eth,
        PubKeyHash::NONE,
        Nonce(0),
        id(3),
    );
    refused(
        &mut state,
        Op::ChangePubKey(ChangePubKey {
            pubkey_hash: PubKeyHash::NONE,
            eth_signature: zero,
            ..cpk
        }),
        |e| *e == StateError::ZeroPubKeyHash,
    );
    state
        .apply(&Op::ChangePubKey(ChangePubKey {
            eth_signature: own,
            ..cpk
        }))
        .unwrap();
    state
        .apply(&Op::Transfer(
            Transfer {
                nonce: Nonce(1),
                ..t
            }
            .sign(&s.users[3].l2),
        ))
        .unwrap();
    assert_eq!(state.balance(id(3), token(0)), Amount(9));
}

#[test]
fn full_exits_are_never_refused_and_pay_only_what_can_be_paid() {
    let (s, mut state) = funded();
    let exit = |user: usize, account: u32, c: u16| {
        Op::FullExit(manyfold_types::FullExit {
            chain: chain(c),
            serial_id: 50,
            account: id(account),
            address: s.users[user].address,
            token: token(0),
        })
    };
    let amount_of = |applied: manyfold_state::AppliedOp| match applied.pubdata {
        manyfold_types::OpPubdata::FullExit { amount, .. } => amount,
        other => panic!("{other:?}"),
    };
    // Wrong owner, unknown account, short reserve (chain 1 holds nothing): amount 0, nothing moves.
    let root = state.root();
    assert_eq!(
        amount_of(state.apply(&exit(1, 0, 0)).unwrap()),
        Amount::ZERO
    );
    assert_eq!(
        amount_of(state.apply(&exit(1, 77, 0)).unwrap()),
        Amount::ZERO
    );
    assert_eq!(
        amount_of(state.apply(&exit(0, 0, 1)).unwrap()),
        Amount::ZERO
    );
    assert_eq!(state.root(), root);
    // The owner on a chain with enough reserve gets everything.
    assert_eq!(
        amount_of(state.apply(&exit(0, 0, 0)).unwrap()),
        Amount(1000)
    );
    assert_eq!(state.balance(id(0), token(0)), Amount::ZERO);
    assert_eq!(state.reserve(chain(0), token(0)), Amount(2));
}

#[test]
fn deposits_create_accounts_once_per_address() {
    let s = Scenario::new(2, 1, 1);
    let mut state = L2State::new(chains());
    let deposit = |u: usize| {
        Op::Deposit(Deposit {
            chain: chain(0),
            serial_id: 0,
            address: s.users[u].address,
            token: token(0),
            amount: Amount(5),
        })
    };
    state.apply(&deposit(0)).unwrap();
    state.apply(&deposit(1)).unwrap();
    state.apply(&deposit(0)).unwrap();
    assert_eq!(state.account_count(), 2);
    assert_eq!(state.account_id_of(&s.users[1].address), Some(id(1)));
    assert_eq!(state.balance(id(0), token(0)), Amount(10));
    assert_eq!(state.reserve(chain(0), token(0)), Amount(15));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// A random valid sequence reaches the same root whether committed op by op, in random
    /// batches, or never; and reopening the store gives that root back.
    #[test]
    fn batching_of_commits_does_not_change_the_root(seed: u64, cuts in proptest::collection::vec(any::<bool>(), 60)) {
        let mut reference = L2State::new(chains());
        let ops = Scenario::new(6, 3, 3).valid_ops(&mut reference, seed, 60);

        let dir = tempfile::tempdir().unwrap();
        let sled = SledStorage::open(dir.path()).unwrap();
        let memory = MemoryStorage::new();
        let mut batched = L2State::new(chains());
        let mut per_op = L2State::new(chains());
        for (op, cut) in ops.iter().zip(&cuts) {
            batched.apply(op).unwrap();
            per_op.apply(op).unwrap();
            per_op.commit(&memory).unwrap();
            if *cut {
                batched.commit(&sled).unwrap();
            }
        }
        batched.commit(&sled).unwrap();
        prop_assert_eq!(batched.root(), reference.root());
        prop_assert_eq!(per_op.root(), reference.root());
        prop_assert_eq!(L2State::open(&memory, chains()).unwrap().root(), reference.root());
        drop(sled);
        let reopened = L2State::open(&SledStorage::open(dir.path()).unwrap(), chains()).unwrap();
        prop_assert_eq!(reopened.root(), reference.root());
        for a in 0..reference.account_count() as u32 {
            prop_assert_eq!(reopened.account(id(a)), reference.account(id(a)));
        }
    }

    /// Every account and balance proof verifies against the root and fails when tampered.
    #[test]
    fn merkle_proofs_verify_and_fail_when_tampered(seed: u64, pick: u32, level in 0usize..12, slot in 0usize..3) {
        let mut state = L2State::new(chains());
        Scenario::new(5, 2, 3).valid_ops(&mut state, seed, 30);
        let root = state.root();
        let account = id(pick % (state.account_count() as u32 + 1));
        for t in 0..3 {
            let proof = state.exit_proof(account, token(t));
            prop_assert!(proof.verify(root));
            prop_assert_eq!(proof.balance.balance, state.balance(account, token(t)));

            let mut p = proof.clone();
            p.balance.balance = Amount(p.balance.balance.0.wrapping_add(1));
            prop_assert!(!p.verify(root));
            if proof.account.address.is_some() {
                let mut p = proof.clone();
                p.account.nonce = Nonce(p.account.nonce.0 + 1);
                prop_assert!(!p.verify(root));
            }
            let mut p = proof.clone();
            p.account.path.0[level][slot] += Fr::from(1u64);
            prop_assert!(!p.verify(root));
            let mut p = proof.clone();
            p.balance.path.0[level % 5][slot] += Fr::from(1u64);
            prop_assert!(!p.verify(root));
            // Moving a present account's proof to another index fails; for an absent
            // account the neighbour's leaf may be empty too, which the proof then rightly shows.
            if proof.account.address.is_some() {
                let mut p = proof.clone();
                p.account.account = id((account.get() + 1) % 16);
                prop_assert!(!p.verify(root));
            }
            prop_assert!(!proof.verify(root + Fr::from(1u64)));
        }
    }

    /// Random mutations of valid ops (amounts, nonces, signers) are either valid or refused
    /// without any change.
    #[test]
    fn mutated_ops_are_applied_whole_or_not_at_all(seed: u64, bump in 1u128..2000, nonce_delta in 1u32..3) {
        let mut state = L2State::new(chains());
        let mut scenario = Scenario::new(4, 2, 2);
        let ops = scenario.valid_ops(&mut state, seed, 25);
        let stranger = PrivateKey::from_seed(b"stranger");
        for op in ops {
            let mutants = match op {
                Op::Transfer(t) => vec![
                    Op::Transfer(Transfer { amount: Amount(t.body.amount.0 + bump), ..t.body }.sign(&scenario.users[0].l2)),
                    Op::Transfer(Transfer { nonce: Nonce(t.body.nonce.0 + nonce_delta), ..t.body }.sign(&stranger)),
                    Op::Transfer(t),
                ],
                Op::Withdraw(w) => vec![
                    Op::Withdraw(Withdraw { amount: Amount(w.body.amount.0 + bump), ..w.body }.sign(&stranger)),
                    Op::Withdraw(w),
                ],
                other => vec![other],
            };
            for m in mutants {
                let before = state.root();
                match state.apply(&m) {
                    Ok(_) => {}
                    Err(_) => prop_assert_eq!(state.root(), before),
                }
            }
        }
    }
}

/// Issue 9 item 3: the chain set is fixed at genesis. A withdrawal or a ChangePubKey naming
/// another chain id is refused with its own error and changes nothing, so nobody can post
/// an op that the primary's commit would refuse; priority ops naming one are refused too
/// (no chain's contract can have made them).
#[test]
fn ops_naming_unknown_chains_are_refused() {
    let (s, mut state) = funded();
    let outside = chain(3);
    let unknown = |e: &StateError| {
        *e == StateError::UnknownChain {
            chain: outside,
            chains: 3,
        }
    };
    let k0 = &s.users[0].l2;
    let zero_withdraw = Withdraw {
        account: id(0),
        chain: outside,
        token: token(0),
        amount: Amount(0),
        to: s.users[0].address,
        nonce: Nonce(1),
    };
    refused(&mut state, Op::Withdraw(zero_withdraw.sign(k0)), unknown);
    let pkh = s.users[0].l2.public_key().hash();
    let other_domain = *ChainSet::local(4).domain(outside).unwrap();
    let cpk = ChangePubKey {
        account: id(0),
        chain: outside,
        pubkey_hash: pkh,
        nonce: Nonce(1),
        eth_signature: sign_change_pubkey(&other_domain, &s.users[0].eth, pkh, Nonce(1), id(0)),
    };
    refused(&mut state, Op::ChangePubKey(cpk), unknown);
    refused(
        &mut state,
        Op::Deposit(Deposit {
            chain: outside,
            serial_id: 0,
            address: s.users[0].address,
            token: token(0),
            amount: Amount(1),
        }),
        unknown,
    );
    refused(
        &mut state,
        Op::FullExit(FullExit {
            chain: outside,
            serial_id: 0,
            account: id(0),
            address: s.users[0].address,
            token: token(0),
        }),
        unknown,
    );
}

/// Issue 9 item 12: a ChangePubKey signed for another deployment (another EVM chain id or
/// contract) is refused: the signature binds the domain of the chain named in the op.
#[test]
fn change_pubkey_signed_for_another_deployment_is_refused() {
    let (s, mut state) = funded();
    let pkh = PrivateKey::from_seed(b"new key").public_key().hash();
    let nonce = state.account(id(0)).unwrap().nonce;
    let here = domain(1);
    let elsewhere = manyfold_types::ChainDomain {
        evm_chain_id: here.evm_chain_id + 1000,
        ..here
    };
    let cpk = |d: &manyfold_types::ChainDomain| ChangePubKey {
        account: id(0),
        chain: chain(1),
        pubkey_hash: pkh,
        nonce,
        eth_signature: sign_change_pubkey(d, &s.users[0].eth, pkh, nonce, id(0)),
    };
    refused(&mut state, Op::ChangePubKey(cpk(&elsewhere)), |e| {
        matches!(e, StateError::BadEthSignature(_))
    });
    // Chain 0's domain does not authorise an op naming chain 1 either.
    refused(&mut state, Op::ChangePubKey(cpk(&domain(0))), |e| {
        matches!(e, StateError::BadEthSignature(_))
    });
    state.apply(&Op::ChangePubKey(cpk(&here))).unwrap();
}

/// The chain set is fixed at genesis: a stored state does not open with another one.
#[test]
fn a_stored_state_opens_only_with_its_own_chain_set() {
    let (_, mut state) = funded();
    let memory = MemoryStorage::new();
    state.commit(&memory).unwrap();
    assert_eq!(
        L2State::open(&memory, chains()).unwrap().root(),
        state.root()
    );
    assert!(matches!(
        L2State::open(&memory, ChainSet::local(4)),
        Err(StateError::ChainSetMismatch(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// What exodus relies on: replaying only the published pubdata of a valid sequence,
    /// with no signature, reaches the state the ops reached, root and accounts alike.
    #[test]
    fn replaying_the_pubdata_alone_reaches_the_same_state(seed: u64) {
        let mut reference = L2State::new(chains());
        let mut scenario = Scenario::new(6, 3, 3);
        let mut replica = L2State::new(chains());
        let mut pubdata = Vec::new();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        while pubdata.len() < 80 {
            let action = scenario.random_action(&mut rng);
            if let Some(op) = scenario.op(&reference, action) {
                pubdata.push(reference.apply(&op).unwrap().pubdata);
            }
        }
        for record in &pubdata {
            replica.replay(record).unwrap();
        }
        prop_assert_eq!(replica.root(), reference.root());
        for a in 0..reference.account_count() as u32 {
            prop_assert_eq!(replica.account(id(a)), reference.account(id(a)));
        }
    }
}

/// A record that is not what the state makes of its op is refused, changing nothing.
#[test]
fn a_replayed_record_must_agree_with_the_state() {
    let (_, state) = funded();
    let root = state.root();
    let mut s = state.clone();
    let user0 = s.account(id(0)).unwrap().address;
    // A deposit published to another account than the one the address owns.
    let wrong_account = OpPubdata::Deposit {
        chain: chain(0),
        account: id(2),
        token: token(0),
        amount: Amount(5),
        address: user0,
        refunded: false,
    };
    assert!(matches!(
        s.replay(&wrong_account),
        Err(StateError::NotReplayable(_))
    ));
    // A transfer of more than the sender holds.
    let overdrawn = OpPubdata::Transfer {
        from: id(1),
        to: id(0),
        token: token(0),
        amount: Amount(2),
    };
    assert!(matches!(
        s.replay(&overdrawn),
        Err(StateError::InsufficientBalance { .. })
    ));
    // A ChangePubKey at another nonce than the account's.
    let stale = OpPubdata::ChangePubKey {
        chain: chain(0),
        account: id(0),
        pubkey_hash: PubKeyHash::NONE,
        address: user0,
        nonce: Nonce(0),
    };
    assert!(s.replay(&stale).is_err());
    assert_eq!(s.root(), root);
}
