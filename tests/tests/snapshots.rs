//! What hpm prints, snapshotted (insta) through the real binaries on a
//! fixture world, with temporary paths, hashes and pids filtered out
//! ([`hpm_tests::redact`]): `status --json` and its table, a failed
//! `check`, and the renderings of the errors users meet most. Run with
//! `INSTA_UPDATE=always` to rewrite them after reading the diff.

use hpm_tests::{redact, stderr, stdout, World};

/// A world of two plugins, synced in-process in prod.
fn synced_prod() -> anyhow::Result<World> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\n",
    )?;
    world.ok(&["--no-daemon", "sync"])?;
    Ok(world)
}

#[test]
fn status_as_json_and_as_a_table() -> anyhow::Result<()> {
    let world = synced_prod()?;
    world.ok(&["--no-daemon", "use", "plugin-b", "dev"])?;
    let json = world.ok(&["--no-daemon", "status", "--json"])?;
    insta::assert_snapshot!("status_json", redact(&world, &stdout(&json)));
    let table = world.ok(&["--no-daemon", "status"])?;
    // Columns are padded to the temporary path's width: compare them as
    // columns, two spaces apart.
    let columns: Vec<String> = redact(&world, &stdout(&table))
        .lines()
        .map(|line| {
            line.split("  ")
                .filter(|cell| !cell.is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("  ")
        })
        .collect();
    insta::assert_snapshot!("status_table", columns.join("\n"));
    Ok(())
}

#[test]
fn a_failed_check_names_each_failure() -> anyhow::Result<()> {
    let world = synced_prod()?;
    // A user's hand edit of a managed entry: the plan and the file disagree.
    let pyproject = world.read("pyproject.toml")?;
    let edited = pyproject.replacen("tag = \"v1.0.0\"", "tag = \"v1.1.0.dev0\"", 1);
    std::fs::write(world.core().join("pyproject.toml"), edited)?;
    let output = world.run(&["--no-daemon", "check"]);
    assert_eq!(output.status.code(), Some(1));
    let text = redact(&world, &stderr(&output));
    // uv's own explanation of the stale lock varies by uv version.
    let shown: String = text
        .lines()
        .filter(|line| {
            line.starts_with("error: the check failed")
                || line.starts_with("pyproject:")
                || line.starts_with("lock:")
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("check_failed", shown);
    Ok(())
}

#[test]
fn error_renderings() -> anyhow::Result<()> {
    let world = synced_prod()?;
    let manifest = world.read("hpm.yaml")?;

    world.write_manifest("version: 1\nmode: prod\npakages: []\n")?;
    let unknown_field = world.run(&["--no-daemon", "sync"]);
    world.write_manifest(
        "version: 1\nmode: staging\nregistry: ./hpm-registry\npackages: [plugin-a, missing-one]\n",
    )?;
    let unknown_package = world.run(&["--no-daemon", "sync"]);
    world.write_manifest(&manifest)?;
    world.write_registry_entry(
        "plugin-a",
        &format!(
            "name: plugin-a\nsources:\n  prod: {{ type: git, url: \"{}\", tag: v9.9.9 }}\n",
            world.remote_url("plugin-a")
        ),
    )?;
    let missing_tag = world.run(&["--no-daemon", "sync"]);
    world.write_registry_entry(
        "plugin-a",
        "name: plugin-a\nsources:\n  prod: { type: git, url: \"file:///nonexistent/plugin-a.git\", tag: v1.0.0 }\n",
    )?;
    let unreachable = world.run(&["--no-daemon", "sync", "--json"]);
    let not_a_workspace = world
        .hpmctl_in_process()
        .args(["--workspace", &world.root().display().to_string(), "status"])
        .output()?;

    let mut shown = String::new();
    for (name, output) in [
        ("unknown field", &unknown_field),
        ("unknown package", &unknown_package),
        ("missing tag", &missing_tag),
        ("not a workspace", &not_a_workspace),
    ] {
        shown.push_str(&format!(
            "--- {name} (exit {:?})\n{}\n",
            output.status.code(),
            stderr(output).trim_end()
        ));
    }
    insta::assert_snapshot!("errors", redact(&world, &shown));
    // With --json the error is data: its kind tells a network failure from
    // an invalid manifest.
    let error: serde_json::Value = serde_json::from_str(&stdout(&unreachable))?;
    assert_eq!(unreachable.status.code(), Some(1));
    assert_eq!(error["error"]["kind"], "network", "{error}");
    assert_eq!(error["error"]["code"], hpm_protocol::codes::NETWORK);
    insta::assert_snapshot!(
        "unreachable_json",
        redact(&world, &serde_json::to_string_pretty(&error)?)
    );
    Ok(())
}
