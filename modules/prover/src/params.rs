//! Public parameters, their powers-of-tau source and their on-disk cache.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy_primitives::keccak256;
use manyfold_circuits::OpStep;
use nova_snark::frontend::num::AllocatedNum;
use nova_snark::frontend::r1cs::NovaShape;
use nova_snark::frontend::shape_cs::ShapeCS;
use nova_snark::frontend::ConstraintSystem;
use nova_snark::nova::{CompressedSNARK, ProverKey, PublicParams, VerifierKey};
use nova_snark::provider::{Bn256EngineKZG, GrumpkinEngine};
use nova_snark::traits::circuit::StepCircuit;
use nova_snark::traits::commitment::CommitmentEngineTrait;
use nova_snark::traits::snark::RelaxedR1CSSNARKTrait;
use nova_snark::traits::Engine;

/// The primary engine: BN254 with HyperKZG.
pub type E1 = Bn256EngineKZG;
/// The secondary engine: Grumpkin.
pub type E2 = GrumpkinEngine;
type EE1 = nova_snark::provider::hyperkzg::EvaluationEngine<E1>;
type EE2 = nova_snark::provider::ipa_pc::EvaluationEngine<E2>;
/// The primary compression SNARK.
pub type S1 = nova_snark::spartan::snark::RelaxedR1CSSNARK<E1, EE1>;
/// The secondary compression SNARK.
pub type S2 = nova_snark::spartan::snark::RelaxedR1CSSNARK<E2, EE2>;
/// A block range's compressed proof.
pub type Snark = CompressedSNARK<E1, E2, OpStep, S1, S2>;
/// The verifier key.
pub type Vk = VerifierKey<E1, E2, OpStep, S1, S2>;
/// The compression prover key.
pub type Pk = ProverKey<E1, E2, OpStep, S1, S2>;
/// Nova's public parameters for the step circuit.
pub type Pp = PublicParams<E1, E2, OpStep>;

/// Errors of parameter setup and loading.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// Nova refused (no suitable powers-of-tau file, shape errors).
    #[error("nova: {0}")]
    Nova(String),
    /// Reading or writing the cache or a powers-of-tau file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A cache file could not be decoded.
    #[error("cache {0} is unreadable; delete it to set up again")]
    Cache(PathBuf),
}

/// Where HyperKZG's powers of tau come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PtauSource {
    /// A directory of ceremony files (`ppot_0080_XX.ptau` or `ppot_pruned_XX.ptau`).
    Ceremony(PathBuf),
    /// A devnet: an insecure file is generated in this directory if none is there. Whoever
    /// ran the generation could forge proofs.
    InsecureDevnet(PathBuf),
}

/// Everything proving and verifying need.
pub struct Params {
    /// Nova's public parameters.
    pub pp: PublicParams<E1, E2, OpStep>,
    /// Compression prover key.
    pub pk: ProverKey<E1, E2, OpStep, S1, S2>,
    /// Compression verifier key.
    pub vk: Vk,
    /// Digest of the step circuit's shape (the cache key).
    pub shape_digest: [u8; 32],
}

impl Params {
    /// Constraints of the step circuit alone, and of Nova's augmented primary circuit.
    pub fn constraints(&self) -> (usize, usize) {
        (step_constraints(), self.pp.num_constraints().0)
    }
}

/// Constraints of one step of the bare step circuit.
pub fn step_constraints() -> usize {
    let mut cs = ShapeCS::<E1>::new();
    let z = blank_inputs(&mut cs);
    OpStep::blank()
        .synthesize(&mut cs, &z)
        .expect("the blank step synthesises");
    cs.num_constraints()
}

fn blank_inputs<CS: ConstraintSystem<<E1 as Engine>::Scalar>>(
    cs: &mut CS,
) -> Vec<AllocatedNum<<E1 as Engine>::Scalar>> {
    (0..2)
        .map(|i| {
            AllocatedNum::alloc(cs.namespace(|| format!("z{i}")), || Ok(Default::default()))
                .expect("alloc")
        })
        .collect()
}

/// The digest identifying the step circuit's shape: keccak of its R1CS matrices and of the
/// nova-snark version, so that any change to the circuit gets fresh parameters.
pub fn shape_digest() -> [u8; 32] {
    let mut cs = ShapeCS::<E1>::new();
    let z = blank_inputs(&mut cs);
    OpStep::blank()
        .synthesize(&mut cs, &z)
        .expect("the blank step synthesises");
    let shape = cs.r1cs_shape().expect("a shape");
    let digest = shape.digest();
    keccak256(
        [
            b"nova-snark 0.76.0/".as_slice(),
            ff::PrimeField::to_repr(&digest).as_ref(),
        ]
        .concat(),
    )
    .0
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ParamsError + '_ {
    move |source| ParamsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads the parameters cached in `cache_dir` for the current circuit, or sets them up
/// from `ptau` and caches them. Progress goes to the logs: setup takes minutes.
pub fn load_or_setup(cache_dir: &Path, ptau: &PtauSource) -> Result<Params, ParamsError> {
    std::fs::create_dir_all(cache_dir).map_err(io(cache_dir))?;
    let shape_digest = shape_digest();
    let cache = cache_dir.join(format!(
        "params-{}.bin",
        alloy_primitives::hex::encode(&shape_digest[..8])
    ));
    if cache.exists() {
        let started = Instant::now();
        let file = File::open(&cache).map_err(io(&cache))?;
        let (pp, pk, vk): (Pp, Pk, Vk) = bincode::serde::decode_from_std_read(
            &mut BufReader::new(file),
            bincode::config::legacy(),
        )
        .map_err(|_| ParamsError::Cache(cache.clone()))?;
        tracing::info!(cache = %cache.display(), seconds = started.elapsed().as_secs_f64(), "loaded cached proving parameters");
        return Ok(Params {
            pp,
            pk,
            vk,
            shape_digest,
        });
    }

    let ptau_dir = match ptau {
        PtauSource::Ceremony(dir) => dir.clone(),
        PtauSource::InsecureDevnet(dir) => {
            ensure_insecure_ptau(dir)?;
            dir.clone()
        }
    };
    let started = Instant::now();
    tracing::info!(ptau = %ptau_dir.display(), "setting up proving parameters (once per circuit shape)");
    let pp = PublicParams::<E1, E2, OpStep>::setup_with_ptau_dir(
        &OpStep::blank(),
        &*S1::ck_floor(),
        &*S2::ck_floor(),
        &ptau_dir,
    )
    .map_err(|e| ParamsError::Nova(e.to_string()))?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        constraints = pp.num_constraints().0,
        "public parameters ready; deriving SNARK keys"
    );
    let (pk, vk) = Snark::setup(&pp).map_err(|e| ParamsError::Nova(e.to_string()))?;
    let tmp = cache.with_extension("tmp");
    {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut writer = BufWriter::new(file);
        bincode::serde::encode_into_std_write(
            (&pp, &pk, &vk),
            &mut writer,
            bincode::config::legacy(),
        )
        .map_err(|e| ParamsError::Nova(e.to_string()))?;
    }
    // Written whole, then renamed: a crash never leaves a truncated cache behind.
    std::fs::rename(&tmp, &cache).map_err(io(&cache))?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), cache = %cache.display(), "proving parameters set up and cached");
    Ok(Params {
        pp,
        pk,
        vk,
        shape_digest,
    })
}

/// Powers of tau the devnet generates: enough generators for the step circuit.
const DEVNET_PTAU_POWER: u32 = 18;

fn ensure_insecure_ptau(dir: &Path) -> Result<(), ParamsError> {
    let path = dir.join(format!("ppot_pruned_{DEVNET_PTAU_POWER:02}.ptau"));
    if path.exists() {
        tracing::warn!(file = %path.display(), "INSECURE powers of tau in use: this devnet's proofs can be forged by whoever generated them");
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    tracing::warn!(
        file = %path.display(),
        "generating an INSECURE local powers-of-tau file for the devnet; never use it for a chain that holds value"
    );
    let started = Instant::now();
    let ck = nova_snark::provider::hyperkzg::CommitmentKey::<E1>::setup_from_rng(
        b"manyfold-devnet",
        1 << DEVNET_PTAU_POWER,
        rand_core::OsRng,
    );
    let tmp = path.with_extension("tmp");
    {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut writer = BufWriter::new(file);
        <E1 as Engine>::CE::save_setup(&ck, &mut writer)
            .map_err(|e| ParamsError::Nova(format!("{e:?}")))?;
    }
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    tracing::warn!(
        seconds = started.elapsed().as_secs_f64(),
        "insecure powers of tau written"
    );
    Ok(())
}
