//! End-to-end tests of the engine through the real `hpmctl`, `uv` and `git`:
//! mode switches, overrides, rollback, crash recovery, user edits, and every
//! validation error. Each builds its own world in a temporary folder.

use hpm_tests::{describe, fake_uv, stderr, stdout, Release, World};

/// plugin-a: 1.0.0 (prod), 1.1.0.dev0 (staging), plus a dev clone.
fn two_plugin_world() -> anyhow::Result<World> {
    let world = World::new()?;
    for name in ["plugin-a", "plugin-b"] {
        world.add_plugin(
            name,
            &[
                Release::new("v1.0.0", "1.0.0"),
                Release::new("v1.1.0.dev0", "1.1.0.dev0"),
            ],
        )?;
        world.register(name, "v1.1.0.dev0", "v1.0.0")?;
        world.clone_for_dev(name)?;
    }
    world.write_manifest(
        "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\n",
    )?;
    Ok(world)
}

#[test]
fn switches_dev_staging_prod_and_back_with_the_installed_code_checked() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["sync"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.1.0.dev0");
    let pyproject = world.read("pyproject.toml")?;
    assert!(
        pyproject.contains(r#"plugin-a = { path = "packages/plugin-a", editable = true }"#),
        "{pyproject}"
    );

    // Editable: an edit in the dev clone is visible without a sync.
    std::fs::write(
        world.core().join("packages/plugin-a/plugin_a/__init__.py"),
        "VERSION = \"edited\"\n",
    )?;
    assert_eq!(world.imported_version("plugin-a")?, "edited");

    world.ok(&["switch", "staging"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.1.0.dev0");
    assert!(world
        .read("pyproject.toml")?
        .contains(r#"tag = "v1.1.0.dev0""#));

    world.ok(&["switch", "prod"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.0.0");
    assert_eq!(world.imported_version("plugin-b")?, "1.0.0");
    let prod_lock = world.bytes("uv.lock");

    world.ok(&["switch", "dev"])?;
    assert_eq!(world.imported_version("plugin-a")?, "edited");
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&world.ok(&["status", "--json"])?))?;
    assert_eq!(status["mode"], "dev");
    assert_eq!(status["in_sync"], true);

    // Back in prod, the lock is prod's last good one.
    world.ok(&["switch", "prod"])?;
    assert_eq!(world.bytes("uv.lock"), prod_lock);
    // The comment hpm does not own survived every rewrite.
    assert!(world
        .read("pyproject.toml")?
        .contains("# plugins are added by hpm below"));
    Ok(())
}
