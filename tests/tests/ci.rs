//! What CI runs: `hpmctl check` for each mode without switching (`--mode`,
//! `RUN_MODE`, `--all-modes`), in every mode.

use hpm_tests::{describe, stderr, stdout, World};
use serde_json::Value;

fn json(output: &std::process::Output) -> anyhow::Result<Value> {
    serde_json::from_str(&stdout(output))
        .map_err(|e| anyhow::anyhow!("not JSON ({e}):\n{}", describe(output)))
}

/// Every file of the core that a check must leave as it was.
fn files(world: &World) -> Vec<Option<Vec<u8>>> {
    ["pyproject.toml", "uv.lock", "hpm.yaml", ".hpm/state.json"]
        .iter()
        .map(|file| world.bytes(file))
        .collect()
}

#[test]
fn each_mode_is_checked_without_switching() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let before = files(&world);

    // From dev, every mode in turn, and all of them at once.
    for mode in ["dev", "staging", "prod"] {
        let checked = world.ok(&["--no-daemon", "check", "--mode", mode])?;
        assert!(
            stdout(&checked).contains(&format!("({mode} mode)")),
            "{}",
            describe(&checked)
        );
    }
    let all = world.ok(&["--no-daemon", "check", "--all-modes", "--json"])?;
    let reports = json(&all)?;
    let modes: Vec<&str> = reports
        .as_array()
        .map(|reports| reports.iter().filter_map(|r| r["mode"].as_str()).collect())
        .unwrap_or_default();
    // The current mode first, then the others the registry names.
    assert_eq!(modes, ["dev", "prod", "staging"], "{}", describe(&all));
    assert_eq!(files(&world), before, "a check changed a file");

    // RUN_MODE says which mode to check, as it says which to sync.
    let by_env = world
        .hpmctl()
        .env("RUN_MODE", "prod")
        .args(["--no-daemon", "check", "--json"])
        .output()?;
    assert!(by_env.status.success(), "{}", describe(&by_env));
    assert_eq!(json(&by_env)?["mode"], "prod");

    // Through the daemon too, from another current mode.
    world.ok(&["switch", "prod"])?;
    let before = files(&world);
    for mode in ["dev", "staging", "prod"] {
        let checked = world.ok(&["check", "--mode", mode])?;
        assert!(stdout(&checked).contains(&format!("({mode} mode)")));
    }
    assert_eq!(files(&world), before, "a check changed a file");
    world.ok(&["daemon", "stop"])?;
    Ok(())
}

#[test]
fn a_mode_that_would_not_install_fails_its_check_and_names_it() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.ok(&["--no-daemon", "sync"])?;
    // staging points plugin-b at a tag its remote does not have.
    let url = world.remote_url("plugin-b");
    world.write_registry_entry(
        "plugin-b",
        &format!(
            "name: plugin-b\nsources:\n  dev: {{ type: local, path: ./packages/plugin-b, editable: true }}\n  staging: {{ type: git, url: \"{url}\", tag: v9.9.9 }}\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"
        ),
    )?;
    world.ok(&["--no-daemon", "sync"])?;
    let before = files(&world);

    let refused = world.run(&["--no-daemon", "check", "--mode", "staging"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let said = stderr(&refused);
    assert!(
        said.contains("resolve:") && said.contains("plugin-b") && said.contains("v9.9.9"),
        "{}",
        describe(&refused)
    );
    let all = world.run(&["--no-daemon", "check", "--all-modes"]);
    assert_eq!(all.status.code(), Some(1), "{}", describe(&all));
    assert!(
        stdout(&all).contains("(prod mode)") && stderr(&all).contains("staging mode: resolve:"),
        "{}",
        describe(&all)
    );
    assert_eq!(files(&world), before, "a check changed a file");

    // A dev clone missing here (CI): dev is said to be not checked.
    world.write_registry_entry(
        "plugin-b",
        &format!(
            "name: plugin-b\nsources:\n  dev: {{ type: local, path: ./packages/plugin-b, editable: true }}\n  staging: {{ type: git, url: \"{url}\", tag: v1.1.0.dev0 }}\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"
        ),
    )?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    std::fs::rename(
        world.core().join("packages/plugin-a"),
        world.root().join("plugin-a-away"),
    )?;
    let all = world.ok(&["--no-daemon", "check", "--all-modes"])?;
    assert!(
        stdout(&all).contains("not checked: dev mode here: `plugin-a` installs from")
            && stdout(&all).contains("(staging mode)"),
        "{}",
        describe(&all)
    );
    Ok(())
}

/// A mode exported for machines without hpm (`hpmctl export`) is checked
/// against what an export writes now, and its lock against uv.
#[test]
fn an_exported_mode_is_checked_against_a_fresh_export() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    world.ok(&["--no-daemon", "export", "prod"])?;
    world.ok(&["--no-daemon", "check", "--mode", "prod"])?;

    // The registry moves prod on; the committed export is now stale.
    world.register("plugin-a", "v1.1.0.dev0", "v1.1.0.dev0")?;
    let stale = world.run(&["--no-daemon", "check", "--mode", "prod"]);
    assert_eq!(stale.status.code(), Some(1), "{}", describe(&stale));
    assert!(
        stderr(&stale)
            .contains("export: `prod/pyproject.toml` is not what `hpmctl export prod` writes now"),
        "{}",
        describe(&stale)
    );
    world.ok(&["--no-daemon", "export", "prod"])?;
    world.ok(&["--no-daemon", "check", "--mode", "prod"])?;

    // A lock edited by hand is not current.
    let lock = world.core().join("prod/uv.lock");
    let text = std::fs::read_to_string(&lock)?;
    std::fs::write(&lock, text.replace("v1.1.0.dev0", "v1.0.0"))?;
    let edited = world.run(&["--no-daemon", "check", "--mode", "prod"]);
    assert_eq!(edited.status.code(), Some(1), "{}", describe(&edited));
    assert!(
        stderr(&edited).contains("export: `prod/uv.lock` is not current"),
        "{}",
        describe(&edited)
    );
    Ok(())
}
