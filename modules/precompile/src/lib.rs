//! The embedded chain's proof verifier as a revm precompile (DESIGN §5, §10).
//!
//! At [`VERIFIER_PRECOMPILE`] (`0x…F01D`), [`VerifierPrecompiles`] runs
//! [`manyfold_prover::PinnedVk::verify`] on
//! `abi.encode(bytes32 vkDigest, bytes32 oldStateRoot, bytes32 oldCommitment,
//! bytes32 newStateRoot, bytes32 newCommitment, uint64 steps, bytes proof)`, the call
//! `PrecompileVerifier.sol` makes, and answers one 32-byte word: 1 when the proof holds
//! under the pinned key, 0 otherwise. Every other address is answered by the wrapped
//! provider ([`EthPrecompiles`] by default), so any revm-based chain installs it with
//! `evm.with_precompiles(VerifierPrecompiles::new(spec, vk))`.
//!
//! - The call costs [`VERIFY_GAS`], whatever the input; a call with less gas halts out of
//!   gas before any work is done.
//! - A refused statement (an invalid or tampered proof, other public values, another key's
//!   digest, an input that is not the canonical encoding, a root or commitment at or above
//!   the BN254 scalar modulus) is an ordinary answer, the word 0: never an error that aborts
//!   the transaction. [`check`] says why a statement is refused.

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256};
use manyfold_contracts::verifier::{verifier_output, InputError, VerifierInput};
use manyfold_prover::{PinnedVk, PublicValues, VerifyError};
use manyfold_types::field::fr_from_be_bytes;
use manyfold_types::Fr;
use revm::context::Cfg;
use revm::context_interface::ContextTr;
use revm::handler::{precompile_output_to_interpreter_result, EthPrecompiles, PrecompileProvider};
use revm::interpreter::{CallInputs, InterpreterResult};
use revm::precompile::{PrecompileHalt, PrecompileOutput};
use revm::primitives::hardfork::SpecId;
use revm::primitives::AddressSet;

pub use manyfold_contracts::verifier::VERIFIER_PRECOMPILE;

/// The fixed gas cost of one call to the verifier precompile, whatever its input.
///
/// Verification does the same work for any input that reaches it: the compressed SNARK
/// has a fixed size, and its verifier (HyperKZG's pairings, the Grumpkin IPA's
/// multi-scalar multiplication over its commitment key, Spartan's sum-checks) costs the
/// same for any step count; refusals are never slower than an acceptance. So the price
/// is fixed: the native verification time priced at the rate ecPairing's gas buys
/// (EIP-1108: `45,000 + 34,000·k`), both measured in one process on the project's
/// reference machine (2 cores: about 10 Mgas, see the crate's README), with a 1.5x
/// margin, and small enough that `proveBlocks` (the price, the 63/64 of two nested calls,
/// and about 0.35 Mgas of calldata and bookkeeping) fits Osaka's per-transaction gas cap
/// (EIP-7825, 2^24). `tests/precompile.rs` (`gas_is_priced_at_ec_pairing_rate`, ignored by
/// default) repeats the measurement.
pub const VERIFY_GAS: u64 = 15_000_000;

/// What the precompile's input states, decoded and checked for canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The digest of the key the caller pins (`PrecompileVerifier.verifyingKeyDigest`).
    pub vk_digest: B256,
    /// The public values the proof must reach.
    pub public: PublicValues,
    /// The bincode-encoded compressed SNARK.
    pub proof: Bytes,
}

/// Why an input is not a canonical encoding of a [`Statement`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// Not exactly Solidity's `abi.encode` of the seven values: a short or long input, an
    /// offset or length word other than the canonical one, nonzero padding, a `steps` word
    /// with high bytes set.
    #[error(transparent)]
    Abi(#[from] InputError),
    /// A root or commitment word is not below the BN254 scalar modulus, so it names no
    /// field element (and would alias the one it is congruent to).
    #[error("{0} is not below the BN254 scalar modulus")]
    NotAFieldElement(&'static str),
}

/// Why the precompile answers 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The input is not a canonical encoding.
    #[error("non-canonical input: {0}")]
    Encoding(#[from] EncodingError),
    /// The proof does not hold for these public values under the key of that digest.
    #[error(transparent)]
    Proof(#[from] VerifyError),
}

/// Decodes the precompile's input, refusing anything but the canonical encoding.
pub fn decode(input: &[u8]) -> Result<Statement, EncodingError> {
    let decoded = VerifierInput::decode(input)?;
    let field = |word: &B256, name: &'static str| -> Result<Fr, EncodingError> {
        fr_from_be_bytes(&word.0).map_err(|_| EncodingError::NotAFieldElement(name))
    };
    Ok(Statement {
        vk_digest: decoded.vk_digest,
        public: PublicValues {
            old_root: field(&decoded.oldStateRoot, "oldStateRoot")?,
            old_commitment: field(&decoded.oldCommitment, "oldCommitment")?,
            new_root: field(&decoded.newStateRoot, "newStateRoot")?,
            new_commitment: field(&decoded.newCommitment, "newCommitment")?,
            steps: decoded.steps,
        },
        proof: decoded.proof,
    })
}

/// The precompile's verdict on `input` under `vk`, with the reason for a refusal.
pub fn check(vk: &PinnedVk, input: &[u8]) -> Result<(), Refusal> {
    let statement = decode(input)?;
    vk.verify(&statement.vk_digest.0, &statement.proof, &statement.public)?;
    Ok(())
}

/// One call of the precompile with `gas_limit` gas: [`VERIFY_GAS`] and the answer word, or
/// an out-of-gas halt (which consumes the frame's gas) when `gas_limit` is lower.
/// `reservoir` is the caller's EIP-8037 state-gas reservoir, handed back untouched.
pub fn execute(vk: &PinnedVk, input: &[u8], gas_limit: u64, reservoir: u64) -> PrecompileOutput {
    if gas_limit < VERIFY_GAS {
        return PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir);
    }
    let verdict = check(vk, input);
    if let Err(refusal) = &verdict {
        tracing::debug!(%refusal, "verifier precompile refused a proof");
    }
    PrecompileOutput::new(VERIFY_GAS, verifier_output(verdict.is_ok()), reservoir)
}

/// A [`PrecompileProvider`] that answers [`VERIFIER_PRECOMPILE`] with [`execute`] against
/// a pinned verifying key and leaves every other address to `P`.
///
/// Cloning shares the key.
#[derive(Debug, Clone)]
pub struct VerifierPrecompiles<P = EthPrecompiles> {
    inner: P,
    vk: Arc<PinnedVk>,
    /// `P`'s warm addresses and ours; complete once `synced`.
    warm: AddressSet,
    synced: bool,
}

impl VerifierPrecompiles<EthPrecompiles> {
    /// Ethereum's precompiles of `spec`, and the verifier pinned to `vk`.
    pub fn new(spec: SpecId, vk: Arc<PinnedVk>) -> Self {
        let inner = EthPrecompiles::new(spec);
        let warm = with_verifier(inner.warm_addresses());
        Self {
            inner,
            vk,
            warm,
            synced: true,
        }
    }
}

impl<P> VerifierPrecompiles<P> {
    /// Adds the verifier to another provider (a chain's own precompile set). Its warm
    /// addresses are read at the first `set_spec`, which revm calls before every
    /// transaction.
    pub fn wrap(inner: P, vk: Arc<PinnedVk>) -> Self {
        Self {
            inner,
            vk,
            warm: with_verifier(&AddressSet::default()),
            synced: false,
        }
    }

    /// The pinned key.
    pub fn vk(&self) -> &Arc<PinnedVk> {
        &self.vk
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

fn with_verifier(addresses: &AddressSet) -> AddressSet {
    let mut warm = addresses.clone();
    warm.insert(VERIFIER_PRECOMPILE);
    warm
}

impl<CTX, P> PrecompileProvider<CTX> for VerifierPrecompiles<P>
where
    CTX: ContextTr,
    P: PrecompileProvider<CTX, Output = InterpreterResult>,
{
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = self.inner.set_spec(spec);
        if changed || !self.synced {
            self.warm = with_verifier(self.inner.warm_addresses());
            self.synced = true;
            return true;
        }
        false
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        if inputs.bytecode_address != VERIFIER_PRECOMPILE {
            return self.inner.run(context, inputs);
        }
        let input = inputs.input.as_bytes(context);
        let output = execute(&self.vk, &input, inputs.gas_limit, inputs.reservoir);
        Ok(Some(precompile_output_to_interpreter_result(
            output,
            inputs.gas_limit,
        )))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }

    fn contains(&self, address: &Address) -> bool {
        *address == VERIFIER_PRECOMPILE || self.inner.contains(address)
    }
}
