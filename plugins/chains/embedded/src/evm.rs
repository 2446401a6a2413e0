//! The EVM side: the world state as a revm database, the precompile set, and the
//! conversions from transactions and calls to revm's environment.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use manyfold_precompile::VerifierPrecompiles;
use manyfold_prover::PinnedVk;
use manyfold_storage::{Storage, StorageExt};
use revm::bytecode::Bytecode;
use revm::context::{BlockEnv, CfgEnv, Context, Evm, TxEnv};
use revm::context_interface::cfg::GasParams;
use revm::context_interface::ContextTr;
use revm::database::CacheDB;
use revm::database_interface::{DBErrorMarker, DatabaseRef};
use revm::handler::instructions::EthInstructions;
use revm::handler::{
    EthFrame, EthPrecompiles, MainBuilder, MainContext, MainnetContext, PrecompileProvider,
};
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::{CallInputs, InterpreterResult};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{AddressSet, KECCAK_EMPTY};
use revm::state::AccountInfo;

use crate::tables::{AccountRecord, Blocks};

/// The fork rules the chain runs: Prague (Cancun's opcodes, EIP-7623 calldata pricing, no
/// per-transaction gas cap, so a verifier call plus its contract fits one transaction).
pub(crate) const SPEC: SpecId = SpecId::PRAGUE;

/// The current state of every account, held in memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct World {
    pub(crate) accounts: HashMap<Address, AccountRecord>,
    pub(crate) code: HashMap<B256, Bytecode>,
    pub(crate) slots: HashMap<Address, HashMap<U256, U256>>,
}

impl World {
    pub(crate) fn account(&self, address: &Address) -> AccountRecord {
        self.accounts
            .get(address)
            .copied()
            .unwrap_or(AccountRecord {
                balance: U256::ZERO,
                nonce: 0,
                code_hash: KECCAK_EMPTY,
            })
    }

    pub(crate) fn code_of(&self, address: &Address) -> Bytes {
        self.accounts
            .get(address)
            .and_then(|a| self.code.get(&a.code_hash))
            .map(Bytecode::original_bytes)
            .unwrap_or_default()
    }

    pub(crate) fn slot(&self, address: &Address, slot: &U256) -> U256 {
        self.slots
            .get(address)
            .and_then(|s| s.get(slot))
            .copied()
            .unwrap_or_default()
    }
}

/// A store failure seen by the EVM (reading a block hash for `BLOCKHASH`).
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub(crate) struct DbError(String);

impl DBErrorMarker for DbError {}

/// The world and the block store as a read-only revm database.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorldDb<'a> {
    pub(crate) world: &'a World,
    pub(crate) storage: &'a dyn Storage,
}

impl DatabaseRef for WorldDb<'_> {
    type Error = DbError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        Ok(self.world.accounts.get(&address).map(|a| {
            let code = self
                .world
                .code
                .get(&a.code_hash)
                .cloned()
                .unwrap_or_default();
            AccountInfo::new(a.balance, a.nonce, a.code_hash, code)
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, DbError> {
        Ok(self.world.code.get(&code_hash).cloned().unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, DbError> {
        Ok(self.world.slot(&address, &index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, DbError> {
        Ok(self
            .storage
            .get::<Blocks>(&number)
            .map_err(|e| DbError(e.to_string()))?
            .map(|b| b.0.hash)
            .unwrap_or_default())
    }
}

/// The chain's precompiles: Ethereum's, plus the verifier when a key is pinned.
#[derive(Debug, Clone)]
pub(crate) enum ChainPrecompiles {
    Eth(EthPrecompiles),
    Verifier(VerifierPrecompiles),
}

impl ChainPrecompiles {
    pub(crate) fn new(vk: Option<&Arc<PinnedVk>>) -> Self {
        match vk {
            Some(vk) => Self::Verifier(VerifierPrecompiles::new(SPEC, vk.clone())),
            None => Self::Eth(EthPrecompiles::new(SPEC)),
        }
    }
}

impl<CTX: ContextTr<Cfg = CfgEnv>> PrecompileProvider<CTX> for ChainPrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: SpecId) -> bool {
        match self {
            Self::Eth(p) => <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(p, spec),
            Self::Verifier(p) => {
                <VerifierPrecompiles as PrecompileProvider<CTX>>::set_spec(p, spec)
            }
        }
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        match self {
            Self::Eth(p) => p.run(context, inputs),
            Self::Verifier(p) => p.run(context, inputs),
        }
    }

    fn warm_addresses(&self) -> &AddressSet {
        match self {
            Self::Eth(p) => <EthPrecompiles as PrecompileProvider<CTX>>::warm_addresses(p),
            Self::Verifier(p) => {
                <VerifierPrecompiles as PrecompileProvider<CTX>>::warm_addresses(p)
            }
        }
    }

    fn contains(&self, address: &Address) -> bool {
        match self {
            Self::Eth(p) => <EthPrecompiles as PrecompileProvider<CTX>>::contains(p, address),
            Self::Verifier(p) => {
                <VerifierPrecompiles as PrecompileProvider<CTX>>::contains(p, address)
            }
        }
    }
}

/// The database every execution runs on: the world behind a write cache.
pub(crate) type Db<'a> = CacheDB<WorldDb<'a>>;

/// The EVM the chain runs.
pub(crate) type ChainEvm<'a, 'b> = Evm<
    MainnetContext<&'b mut Db<'a>>,
    (),
    EthInstructions<EthInterpreter, MainnetContext<&'b mut Db<'a>>>,
    ChainPrecompiles,
    EthFrame<EthInterpreter>,
>;

/// What a call or transaction runs under besides its own fields.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub(crate) chain_id: u64,
    pub(crate) block: BlockEnv,
    /// `eth_call` and gas estimation: no nonce check (and the caller sets a zero base fee in
    /// `block`, so that calls pay no gas).
    pub(crate) call: bool,
}

/// An EVM on `db` under `env`.
pub(crate) fn build<'a, 'b>(
    db: &'b mut Db<'a>,
    env: &Env,
    precompiles: ChainPrecompiles,
) -> ChainEvm<'a, 'b> {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = env.chain_id;
    cfg.disable_nonce_check = env.call;
    Context::mainnet()
        .with_db(db)
        .with_block(env.block.clone())
        .with_cfg(cfg)
        .build_mainnet()
        .with_precompiles(precompiles)
}

/// The environment of a block.
pub(crate) fn block_env(number: u64, timestamp: u64, gas_limit: u64, base_fee: u64) -> BlockEnv {
    BlockEnv {
        number: U256::from(number),
        timestamp: U256::from(timestamp),
        gas_limit,
        basefee: base_fee,
        // No beacon chain: a fixed, per-block value stands in for RANDAO.
        prevrandao: Some(alloy_primitives::keccak256(number.to_be_bytes())),
        ..BlockEnv::default()
    }
}

/// A signed transaction as revm runs it.
pub(crate) fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    TxEnv {
        tx_type: tx.tx_type() as u8,
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: tx.max_priority_fee_per_gas(),
        ..TxEnv::default()
    }
}

/// A read-only call as revm runs it: free gas, the caller's nonce not checked.
pub(crate) fn call_env(
    from: Address,
    kind: TxKind,
    input: Bytes,
    value: U256,
    gas_limit: u64,
) -> TxEnv {
    TxEnv {
        caller: from,
        gas_limit,
        gas_price: 0,
        kind,
        value,
        data: input,
        chain_id: None,
        ..TxEnv::default()
    }
}

/// A transaction's intrinsic gas under [`SPEC`], as revm charges it before execution:
/// 21,000, 32,000 more for a creation, calldata, access list and init code words, or
/// EIP-7623's calldata floor when that is higher. A gas limit below it can never run.
pub(crate) fn intrinsic_gas(tx: &TxEnvelope) -> u64 {
    let (accounts, keys) = tx.access_list().map_or((0, 0), |list| {
        (
            list.len() as u64,
            list.iter().map(|item| item.storage_keys.len() as u64).sum(),
        )
    });
    let gas = GasParams::new_spec(SPEC).initial_tx_gas(
        tx.input(),
        tx.kind().is_create(),
        accounts,
        keys,
        0,
        None,
    );
    gas.initial_total_gas().max(gas.floor_gas())
}
