//! `--dry-run` on every command that changes the environment: it resolves
//! and validates as the command would, prints the diff and what would be
//! cloned or reinstalled, and changes nothing, anywhere in the workspace
//! (`.hpm/` included).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_tests::{describe, stderr, stdout, World};

/// Every file under `dir` but the environment, with its bytes (and a
/// link's target), so "nothing changed" is a comparison of two snapshots.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".venv") {
                continue;
            }
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => {
                    files.insert(path.clone(), b"(folder)".to_vec());
                    stack.push(path);
                }
                Ok(_) => {
                    files.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
                }
                Err(_) => {}
            }
        }
    }
    files
}

#[test]
fn every_dry_run_shows_the_change_and_makes_none() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b", "plugin-c"])?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\ngroups:\n  extra:\n    options: [plugin-c]\n",
    )?;
    world.ok(&["--no-daemon", "sync"])?;
    let before = snapshot(&world.core());

    let switch = world.ok(&["switch", "dev", "--dry-run"])?;
    let said = stdout(&switch);
    assert!(
        said.contains("--- a/pyproject.toml")
            && said.contains("+plugin-a = { path = \"packages/plugin-a\""),
        "{said}"
    );
    assert!(said.contains("would reinstall plugin-a"), "{said}");
    assert!(said.contains("dry run: nothing was changed"), "{said}");
    assert_eq!(
        snapshot(&world.core()),
        before,
        "switch --dry-run changed a file"
    );

    let group = world.ok(&[
        "group",
        "add",
        "extra",
        "--option",
        "plugin-c",
        "--dry-run",
        "--json",
    ])?;
    let report: serde_json::Value = serde_json::from_str(&stdout(&group))?;
    let diffs = report["diffs"].to_string();
    assert!(
        diffs.contains("hpm.yaml") && diffs.contains("+    selected: plugin-c"),
        "{report:#}"
    );
    assert_eq!(
        snapshot(&world.core()),
        before,
        "group add --dry-run changed a file"
    );

    std::fs::remove_dir_all(world.core().join("packages/plugin-b"))?;
    let before = snapshot(&world.core());
    let dev = world.ok(&["--no-daemon", "dev", "plugin-b", "--dry-run"])?;
    assert!(
        stdout(&dev).contains("would clone plugin-b"),
        "{}",
        describe(&dev)
    );
    for args in [
        vec!["sync", "--dry-run"],
        vec!["use", "plugin-a", "staging", "--dry-run"],
        vec!["reset", "plugin-a", "--dry-run"],
        vec![
            "group",
            "remove",
            "extra",
            "--option",
            "plugin-c",
            "--dry-run",
        ],
    ] {
        world.ok(&args)?;
    }
    assert_eq!(snapshot(&world.core()), before, "a dry run changed a file");
    assert!(
        !world.core().join("packages/plugin-b").exists(),
        "nothing was cloned"
    );

    // A dry run that finds a problem says so and exits non-zero.
    world.write_registry_entry(
        "plugin-a",
        &format!(
            "name: plugin-a\nsources:\n  dev: {{ type: local, path: ./packages/plugin-a }}\n  prod: {{ type: git, url: \"{}\", tag: v9.9.9 }}\n",
            world.remote_url("plugin-a")
        ),
    )?;
    let before = snapshot(&world.core());
    let failed = world.run(&["switch", "prod", "--dry-run"]);
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    assert!(
        stderr(&failed).contains("tag `v9.9.9` does not exist"),
        "{}",
        describe(&failed)
    );
    assert_eq!(snapshot(&world.core()), before);
    let refused = world.run(&["status", "--dry-run"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    Ok(())
}

/// "Would this switch work?" is answered by uv on a scratch copy, without
/// touching the user's files: a staging tag whose dependency no index has
/// makes the dry run fail with uv's reason.
#[test]
fn a_dry_run_asks_uv_and_fails_when_it_would_not_resolve() -> anyhow::Result<()> {
    use hpm_tests::Release;
    let world = World::new()?;
    let broken = Release::new("v2.0.0.dev0", "2.0.0.dev0")
        .depending_on(&["hpm-test-no-such-package-7f3a>=1"]);
    world.add_plugin("plugin-a", &[Release::new("v1.0.0", "1.0.0"), broken])?;
    world.register("plugin-a", "v2.0.0.dev0", "v1.0.0")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a]\n",
    )?;
    world.ok(&["--no-daemon", "sync"])?;
    let before = snapshot(&world.core());
    let output = world.run(&["switch", "staging", "--dry-run"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("would not resolve"),
        "{}",
        describe(&output)
    );
    assert!(
        stderr(&output).contains("hpm-test-no-such-package-7f3a"),
        "{}",
        describe(&output)
    );
    assert_eq!(snapshot(&world.core()), before);
    Ok(())
}
