//! Public parameters, their powers-of-tau source and their on-disk cache.
//!
//! The cache is keyed by the step circuit's shape digest and by the powers-of-tau source
//! ([`cache_key`]), so that a circuit change, another ceremony file or a devnet's insecure
//! file never reuses parameters made for something else. A cache file carries its key, the
//! verifying key's digest and a checksum of its payload; a file failing any check is
//! never used.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use alloy_primitives::{keccak256, Keccak256};
use manyfold_circuits::OpStep;
use manyfold_types::ChainSet;
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
    /// A cache file is corrupt or belongs to other parameters: it is never used.
    /// [`load_or_setup`] sets the parameters up again and replaces it.
    #[error("parameter cache {path} is unusable ({reason}); it is never loaded: delete it or let the node set up again")]
    CorruptCache {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The powers-of-tau directory holds no `ppot_*.ptau` file.
    #[error("no powers-of-tau file (ppot_*.ptau) in {0}")]
    NoPtau(PathBuf),
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
    /// [`crate::verifying_key_digest`] of `vk`: what the primary's verifier pins.
    pub vk_digest: [u8; 32],
    /// The chain set the circuit was shaped for (its size is a constant of the circuit).
    pub chains: ChainSet,
    /// Digest of the step circuit's shape ([`shape_digest`]).
    pub shape_digest: [u8; 32],
    /// Digest of the powers-of-tau source ([`ptau_digest`]).
    pub ptau_digest: [u8; 32],
    /// The on-disk cache key: [`cache_key`] of the two digests above.
    pub cache_key: [u8; 32],
}

impl Params {
    /// A copy of the verifying key (nova's keys are not `Clone`; this one is small), e.g.
    /// for the primary's verifier while the prover keeps the parameters.
    pub fn vk_copy(&self) -> Vk {
        let bytes = bincode::serde::encode_to_vec(&self.vk, bincode::config::legacy())
            .expect("a verifying key serializes");
        bincode::serde::decode_from_slice(&bytes, bincode::config::legacy())
            .expect("a verifying key deserializes from its own bytes")
            .0
    }

    /// Constraints of the step circuit alone, and of Nova's augmented primary circuit.
    pub fn constraints(&self) -> (usize, usize) {
        (
            step_constraints(self.chains.len()),
            self.pp.num_constraints().0,
        )
    }
}

/// Constraints of one step of the bare step circuit.
pub fn step_constraints(chains: usize) -> usize {
    let mut cs = ShapeCS::<E1>::new();
    let z = blank_inputs(&mut cs);
    OpStep::blank(chains)
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
pub fn shape_digest(chains: usize) -> [u8; 32] {
    let mut cs = ShapeCS::<E1>::new();
    let z = blank_inputs(&mut cs);
    OpStep::blank(chains)
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

/// The identity of a powers-of-tau source: keccak-256 over
/// `"manyfold-ptau/v1\0" ‖ label ‖ 0x00`, then for every `ppot_*.ptau` file of the
/// directory in name order `u32 name length ‖ name ‖ u64 size ‖ keccak256(file bytes)`
/// (integers big-endian). The label is `ceremony` or `insecure-devnet`, so devnet
/// parameters are never taken for ceremony ones even over identical bytes; the file hashes
/// tell apart two ceremonies, two devnet setups, or a file replaced in place. Every
/// `ppot_*.ptau` file counts (nova-snark picks among them by size), so keep only the file
/// the circuit needs in a ceremony directory: each is read in full at start-up.
///
/// Errors when the directory holds no such file. Generates nothing: for a devnet,
/// [`load_or_setup`] writes the insecure file first.
pub fn ptau_digest(ptau: &PtauSource) -> Result<[u8; 32], ParamsError> {
    let (label, dir) = match ptau {
        PtauSource::Ceremony(dir) => ("ceremony", dir),
        PtauSource::InsecureDevnet(dir) => ("insecure-devnet", dir),
    };
    let mut files = Vec::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("ppot_") && name.ends_with(".ptau") && entry.path().is_file() {
                files.push((name, entry.path()));
            }
        }
    }
    if files.is_empty() {
        return Err(ParamsError::NoPtau(dir.clone()));
    }
    files.sort();
    let mut hasher = Keccak256::new();
    hasher.update(b"manyfold-ptau/v1\0");
    hasher.update(label.as_bytes());
    hasher.update([0u8]);
    for (name, path) in files {
        let (size, file_hash) = hash_file(&path)?;
        hasher.update((name.len() as u32).to_be_bytes());
        hasher.update(name.as_bytes());
        hasher.update(size.to_be_bytes());
        hasher.update(file_hash);
    }
    Ok(hasher.finalize().0)
}

fn hash_file(path: &Path) -> Result<(u64, [u8; 32]), ParamsError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut hasher = Keccak256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(io(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, hasher.finalize().0))
}

/// The key under which parameters are cached: keccak-256 of
/// `"manyfold-params/v2\0" ‖ shape_digest ‖ ptau_digest`. A change of circuit or of
/// powers-of-tau source gives another key, hence fresh parameters.
pub fn cache_key(shape_digest: &[u8; 32], ptau_digest: &[u8; 32]) -> [u8; 32] {
    keccak256(
        [
            b"manyfold-params/v2\0".as_slice(),
            shape_digest,
            ptau_digest,
        ]
        .concat(),
    )
    .0
}

/// The cache file of `key` in `cache_dir`: `params-v2-<first 16 bytes of the key, hex>.bin`.
pub fn cache_path(cache_dir: &Path, key: &[u8; 32]) -> PathBuf {
    cache_dir.join(format!(
        "params-v2-{}.bin",
        alloy_primitives::hex::encode(&key[..16])
    ))
}

/// Cache files start with this.
const CACHE_MAGIC: &[u8; 16] = b"manyfold-params\0";
const CACHE_FORMAT: u32 = 2;
/// magic, format, key, vk digest, payload length, payload hash.
const CACHE_HEADER: usize = 16 + 4 + 32 + 32 + 8 + 32;

/// The parameters cached in `cache_dir` for the current circuit and `ptau`, if there are
/// any. A cache file that is corrupt (bad header, other key, wrong length, checksum or
/// verifying-key digest, undecodable) is refused with [`ParamsError::CorruptCache`], never
/// used. Generates nothing (the powers-of-tau file must exist, see [`ptau_digest`]).
pub fn load_cached(
    cache_dir: &Path,
    ptau: &PtauSource,
    chains: &ChainSet,
) -> Result<Option<Params>, ParamsError> {
    let shape_digest = shape_digest(chains.len());
    let ptau_digest = ptau_digest(ptau)?;
    let key = cache_key(&shape_digest, &ptau_digest);
    let path = cache_path(cache_dir, &key);
    if !path.exists() {
        return Ok(None);
    }
    read_cache(&path, key, shape_digest, ptau_digest, chains).map(Some)
}

fn read_cache(
    path: &Path,
    key: [u8; 32],
    shape_digest: [u8; 32],
    ptau_digest: [u8; 32],
    chains: &ChainSet,
) -> Result<Params, ParamsError> {
    let corrupt = |reason: &str| ParamsError::CorruptCache {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let bytes = std::fs::read(path).map_err(io(path))?;
    if bytes.len() < CACHE_HEADER || &bytes[..16] != CACHE_MAGIC {
        return Err(corrupt("not a parameter cache file"));
    }
    let (header, payload) = bytes.split_at(CACHE_HEADER);
    let word = |at: usize| -> [u8; 32] { header[at..at + 32].try_into().expect("32 bytes") };
    if header[16..20] != CACHE_FORMAT.to_be_bytes() {
        return Err(corrupt("unknown cache format"));
    }
    if word(20) != key {
        return Err(corrupt(
            "made for another circuit or powers-of-tau source (cache key differs)",
        ));
    }
    let vk_digest = word(52);
    let length = u64::from_be_bytes(header[84..92].try_into().expect("8 bytes"));
    if length != payload.len() as u64 {
        return Err(corrupt("truncated or extended (payload length differs)"));
    }
    if keccak256(payload).0 != word(92) {
        return Err(corrupt("checksum mismatch"));
    }
    let ((pp, pk, vk), read): ((Pp, Pk, Vk), usize) =
        bincode::serde::decode_from_slice(payload, bincode::config::legacy())
            .map_err(|e| corrupt(&format!("undecodable: {e}")))?;
    if read != payload.len() {
        return Err(corrupt("trailing bytes"));
    }
    if crate::verifying_key_digest(&vk) != vk_digest {
        return Err(corrupt(
            "the verifying key's digest differs from the recorded one",
        ));
    }
    Ok(Params {
        pp,
        pk,
        vk,
        vk_digest,
        chains: chains.clone(),
        shape_digest,
        ptau_digest,
        cache_key: key,
    })
}

fn write_cache(path: &Path, params: &Params) -> Result<(), ParamsError> {
    let payload = bincode::serde::encode_to_vec(
        (&params.pp, &params.pk, &params.vk),
        bincode::config::legacy(),
    )
    .map_err(|e| ParamsError::Nova(e.to_string()))?;
    let tmp = unique_tmp(path);
    {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut writer = BufWriter::new(file);
        let mut header = Vec::with_capacity(CACHE_HEADER);
        header.extend_from_slice(CACHE_MAGIC);
        header.extend_from_slice(&CACHE_FORMAT.to_be_bytes());
        header.extend_from_slice(&params.cache_key);
        header.extend_from_slice(&params.vk_digest);
        header.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        header.extend_from_slice(&keccak256(&payload).0);
        writer.write_all(&header).map_err(io(&tmp))?;
        writer.write_all(&payload).map_err(io(&tmp))?;
        writer
            .into_inner()
            .map_err(|e| io(&tmp)(e.into_error()))?
            .sync_all()
            .map_err(io(&tmp))?;
    }
    // Written whole, then renamed: a crash never leaves a truncated cache behind.
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// A temporary name next to `path`, distinct per process and call, so that concurrent
/// setups never write into one another's file.
fn unique_tmp(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    PathBuf::from(name)
}

/// Loads the parameters cached in `cache_dir` for the current circuit and powers-of-tau
/// source, or sets them up from `ptau` and caches them. A corrupt cache file is never
/// used: it is reported and replaced by a fresh setup. Progress goes to the logs: setup
/// takes minutes.
pub fn load_or_setup(
    cache_dir: &Path,
    ptau: &PtauSource,
    chains: &ChainSet,
) -> Result<Params, ParamsError> {
    std::fs::create_dir_all(cache_dir).map_err(io(cache_dir))?;
    let ptau_dir = match ptau {
        PtauSource::Ceremony(dir) => dir.clone(),
        PtauSource::InsecureDevnet(dir) => {
            ensure_insecure_ptau(dir)?;
            dir.clone()
        }
    };
    let shape_digest = shape_digest(chains.len());
    let ptau_digest = ptau_digest(ptau)?;
    let key = cache_key(&shape_digest, &ptau_digest);
    let cache = cache_path(cache_dir, &key);
    if cache.exists() {
        let started = Instant::now();
        match read_cache(&cache, key, shape_digest, ptau_digest, chains) {
            Ok(params) => {
                tracing::info!(
                    cache = %cache.display(),
                    seconds = started.elapsed().as_secs_f64(),
                    vk_digest = %hex32(&params.vk_digest),
                    "loaded cached proving parameters"
                );
                return Ok(params);
            }
            Err(e) => {
                tracing::error!(error = %e, "not using the parameter cache; setting up again")
            }
        }
    }

    let started = Instant::now();
    tracing::info!(ptau = %ptau_dir.display(), "setting up proving parameters (once per circuit shape and powers-of-tau source)");
    let pp = PublicParams::<E1, E2, OpStep>::setup_with_ptau_dir(
        &OpStep::blank(chains.len()),
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
    let params = Params {
        vk_digest: crate::verifying_key_digest(&vk),
        chains: chains.clone(),
        pp,
        pk,
        vk,
        shape_digest,
        ptau_digest,
        cache_key: key,
    };
    write_cache(&cache, &params)?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        cache = %cache.display(),
        vk_digest = %hex32(&params.vk_digest),
        "proving parameters set up and cached"
    );
    Ok(params)
}

/// `0x`-prefixed hex of a digest, for logs.
pub(crate) fn hex32(digest: &[u8; 32]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(digest))
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
    let tmp = unique_tmp(&path);
    {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut writer = BufWriter::new(file);
        <E1 as Engine>::CE::save_setup(&ck, &mut writer)
            .map_err(|e| ParamsError::Nova(format!("{e:?}")))?;
        writer
            .into_inner()
            .map_err(|e| io(&tmp)(e.into_error()))?
            .sync_all()
            .map_err(io(&tmp))?;
    }
    // A hard link never replaces an existing file: if another process generated one
    // meanwhile, the first file stays and every user hashes and loads that one.
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(&path)(e)),
    }
    tracing::warn!(
        seconds = started.elapsed().as_secs_f64(),
        "insecure powers of tau written"
    );
    Ok(())
}
