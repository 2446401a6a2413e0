//! Nothing reaches stdout that the user did not ask for: a node loads its proving
//! parameters (which makes halo2curves print a line per bit of every G2 point it checks)
//! and stdout stays empty. (`tests/devnet.rs` checks the devnet prints its welcome and
//! nothing else.)

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use manyfold_chain_conformance::anvil::free_port;

#[test]
fn loading_proving_parameters_prints_nothing_on_stdout() {
    // The parameters every test shares (set up once, cached under cargo's target tmp dir).
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
    let _ = manyfold_prover::testing::devnet_params(&shared, 1);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(shared.join("ptau"), data.join("insecure-ptau")).unwrap();
    let log = dir.path().join("stderr.log");
    // A node without chains, proving with the devnet's insecure setup.
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        "[prover]\nenabled = true\ninsecure_devnet_setup = true\n",
    )
    .unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_manyfold"))
        .args(["node", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["--rpc-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .env("MANYFOLD_PROVER__PARAMS_DIR", shared.join("params"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("loaded cached proving parameters") {
            break;
        }
        assert!(
            node.try_wait().unwrap().is_none(),
            "the node exited early:\n{text}"
        );
        assert!(
            Instant::now() < deadline,
            "parameters never loaded:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(node.id() as i32, libc::SIGTERM) };
    let status = node.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stdout = String::new();
    node.stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(
        stdout, "",
        "stdout must carry nothing the user did not ask for"
    );
}
