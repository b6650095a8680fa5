//! What a packager ships beside the binaries: `--version` naming the commit
//! they were built from, a man page per subcommand, completions. (The wheel
//! itself is built, installed and run by `contrib/python/check-wheel`, once,
//! in CI.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hpm_tests::{describe, stdout, target_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The commit `protocol/build.rs` records: `git rev-parse --short=12 HEAD`
/// of this checkout, or `unknown` outside a git checkout.
fn built_commit() -> anyhow::Result<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()?;
    Ok(if output.status.success() {
        stdout(&output).trim().to_string()
    } else {
        "unknown".to_string()
    })
}

#[test]
fn both_binaries_print_their_version_and_the_commit_they_were_built_from() -> anyhow::Result<()> {
    let commit = built_commit()?;
    for binary in ["hpmctl", "hpmd"] {
        let output = Command::new(target_dir().join(binary))
            .arg("--version")
            .output()?;
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(
            stdout(&output).trim(),
            format!("{binary} {} ({commit})", env!("CARGO_PKG_VERSION"))
        );
    }
    Ok(())
}

/// The subcommands `hpmctl --help` lists (clap's own `help` aside).
fn listed_commands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn man_writes_a_page_for_hpmctl_and_every_subcommand_at_any_depth() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pages = dir.path().join("share/man/man1");
    let output = Command::new(target_dir().join("hpmctl"))
        .args(["man", "--json"])
        .arg(&pages)
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    let listed: Vec<PathBuf> = serde_json::from_str(&stdout(&output))?;
    let written: BTreeSet<String> = std::fs::read_dir(&pages)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(
        listed.len(),
        written.len(),
        "{listed:?} against {written:?}"
    );

    // A page per command `--help` lists, and the nested ones.
    let help = Command::new(target_dir().join("hpmctl"))
        .arg("--help")
        .output()?;
    let commands = listed_commands(&stdout(&help));
    assert!(
        commands.contains("switch") && commands.contains("release"),
        "{commands:?}"
    );
    for command in &commands {
        assert!(
            written.contains(&format!("hpmctl-{command}.1")),
            "no page for {command}: {written:?}"
        );
    }
    for nested in [
        "hpmctl.1",
        "hpmctl-release-plan.1",
        "hpmctl-daemon-start.1",
        "hpmctl-group-add.1",
    ] {
        assert!(written.contains(nested), "no {nested}: {written:?}");
    }
    assert!(
        !written.iter().any(|page| page.contains("help")),
        "{written:?}"
    );

    // Each is a roff page titled with its own name, its options included.
    let plan = std::fs::read_to_string(pages.join("hpmctl-release-plan.1"))?;
    assert!(plan.contains(".TH hpmctl-release-plan 1"), "{plan}");
    assert!(plan.contains("\\-\\-with\\-dependents"), "{plan}");
    Ok(())
}

#[test]
fn man_into_a_folder_it_cannot_make_names_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, "x")?;
    let output = Command::new(target_dir().join("hpmctl"))
        .arg("man")
        .arg(file.join("man1"))
        .output()?;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains(&format!("cannot create `{}`", file.join("man1").display())),
        "{}",
        describe(&output)
    );
    Ok(())
}

/// `hpm-bench --help` prints its usage and exits 0 (it printed an error
/// and a backtrace); an unknown argument still fails with the usage.
#[test]
fn the_benchmark_says_how_to_use_it() -> anyhow::Result<()> {
    let bench = target_dir().join("hpm-bench");
    let help = Command::new(&bench).arg("--help").output()?;
    assert!(help.status.success(), "{}", describe(&help));
    assert!(
        stdout(&help).starts_with("usage: hpm-bench [--sizes 10,50,200]"),
        "{}",
        describe(&help)
    );
    assert!(!stdout(&help).contains("backtrace"), "{}", describe(&help));
    let wrong = Command::new(&bench).arg("--no-such-flag").output()?;
    assert!(!wrong.status.success(), "{}", describe(&wrong));
    assert!(
        hpm_tests::stderr(&wrong).contains("usage: hpm-bench"),
        "{}",
        describe(&wrong)
    );
    Ok(())
}
