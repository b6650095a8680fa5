//! The README's first command, `contrib/example/run.sh`, run from a clean
//! copy of the bundled example with the binaries this suite tests.

use std::process::Command;

use hpm_tests::target_dir;

#[test]
fn the_bundled_example_runs_its_whole_loop() -> anyhow::Result<()> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/example/run.sh");
    let work = tempfile::tempdir()?;
    let output = Command::new("bash")
        .arg(&script)
        .env("HPM_BIN_DIR", target_dir())
        .env("HPM_EXAMPLE_DIR", work.path().join("example"))
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run.sh failed\n{stdout}\n{stderr}");
    // The edit made in the dev clone shows without a reinstall…
    assert!(stdout.contains("(edited in dev)"), "{stdout}");
    // …prod installs the stable tags, and the CI check passes there.
    assert!(stdout.contains("greeter-fr 1.0.0: Bonjour"), "{stdout}");
    assert!(stdout.contains("(prod mode)"), "{stdout}");
    Ok(())
}
