//! Dependency confusion: an internal package (one the registry or the
//! core's own files give a source) never comes from a package index by
//! name. A package index of the tests' own on 127.0.0.1 serves a
//! stranger's `shouter` at a higher version; a private https remote (git's
//! `http-backend` behind Basic auth) holds the real one.

use hpm_tests::git_http::GitHttpServer;
use hpm_tests::index::{stranger_wheel, Index};
use hpm_tests::{describe, locked_block, stderr, Release, World};

/// `plugin-a` (listed) and `shouter` (a registry entry, listed nowhere),
/// both at `v1.0.0`, with a stranger's `shouter` 9.9.9 on the index.
fn world_with_a_namesake(
    plugin_a_needs: &'static [&'static str],
) -> anyhow::Result<(World, Index)> {
    let world = World::new()?;
    world.add_plugin("shouter", &[Release::new("v1.0.0", "1.0.0")])?;
    world.add_plugin(
        "plugin-a",
        &[Release::new("v1.0.0", "1.0.0").depending_on(plugin_a_needs)],
    )?;
    world.register("plugin-a", "v1.0.0", "v1.0.0")?;
    world.register("shouter", "v1.0.0", "v1.0.0")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a]\n",
    )?;
    let wheel = stranger_wheel(&world.root().join("stranger"), "shouter", "9.9.9")?;
    let index = Index::serve(&world.root().join("index"), &[("shouter", wheel)])?;
    Ok((world, index))
}

/// [`world_with_a_namesake`] synced, then `shouter` added by hand to the
/// core's own dependencies (hpm does not plan it); the new file's text.
fn synced_then_shouter_named_by_hand() -> anyhow::Result<(World, Index, String)> {
    let (world, index) = world_with_a_namesake(&[])?;
    let synced = with_index(&world, &index, &["--no-daemon", "sync"])?;
    anyhow::ensure!(synced.status.success(), "{}", describe(&synced));
    let pyproject = world
        .read("pyproject.toml")?
        .replace("dependencies = [\n", "dependencies = [\n    \"shouter\",\n");
    std::fs::write(world.core().join("pyproject.toml"), &pyproject)?;
    Ok((world, index, pyproject))
}

fn with_index(world: &World, index: &Index, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Ok(world
        .hpmctl()
        .env("UV_INDEX", index.url())
        .args(args)
        .output()?)
}

/// Regression: a core that names an internal package hpm does not plan
/// (here by hand, in its own dependencies) let uv take it from the index,
/// and the sync succeeded. Now uv's lock is read before the commit: the
/// sync is refused and both files are put back.
#[test]
fn a_lock_taking_an_internal_package_from_an_index_is_rolled_back() -> anyhow::Result<()> {
    let (world, index, pyproject) = synced_then_shouter_named_by_hand()?;
    let lock_before = world.bytes("uv.lock");

    let refused = with_index(&world, &index, &["--no-daemon", "sync", "--force"])?;
    assert!(!refused.status.success(), "{}", describe(&refused));
    let said = stderr(&refused);
    assert!(
        said.contains("`uv.lock` takes `shouter` 9.9.9 from the index")
            && said.contains("internal package")
            && said.contains("shouter.yaml")
            && said.contains("were restored"),
        "{}",
        describe(&refused)
    );
    assert_eq!(world.read("pyproject.toml")?, pyproject);
    assert_eq!(
        world.bytes("uv.lock"),
        lock_before,
        "uv.lock was not restored"
    );
    Ok(())
}

/// `check` refuses a lock someone made by hand that takes an internal
/// package from an index; a registry entry of `type: pypi` is the way to
/// take it from there on purpose.
#[test]
fn check_refuses_a_lock_with_an_internal_package_from_an_index() -> anyhow::Result<()> {
    let (world, index, _) = synced_then_shouter_named_by_hand()?;
    let uv = hpm_engine::uv::Uv::find()?;
    let locked = std::process::Command::new(&uv.path)
        .current_dir(world.core())
        .env("UV_INDEX", index.url())
        .arg("lock")
        .output()?;
    assert!(locked.status.success(), "{}", describe(&locked));

    let checked = with_index(&world, &index, &["--no-daemon", "check"])?;
    assert!(!checked.status.success(), "{}", describe(&checked));
    assert!(
        stderr(&checked).contains("index-source: `uv.lock` takes `shouter` 9.9.9 from the index"),
        "{}",
        describe(&checked)
    );

    // Taken from an index on purpose: the entry says `type: pypi`.
    world.write_registry_entry(
        "shouter",
        "name: shouter\nsources:\n  prod: { type: pypi, version: \"==9.9.9\" }\n",
    )?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a, shouter]\n",
    )?;
    let synced = with_index(&world, &index, &["--no-daemon", "sync"])?;
    assert!(synced.status.success(), "{}", describe(&synced));
    let checked = with_index(&world, &index, &["--no-daemon", "check"])?;
    assert!(checked.status.success(), "{}", describe(&checked));
    Ok(())
}

/// Regression: a dependency's metadata read from an authenticated remote
/// failed, the error was dropped, and the package left the closure — so
/// uv took the stranger's from the index. Now the sync stops, naming the
/// package, the remote and git's words, and writes nothing; the same
/// daemon then succeeds for a client whose git has the credential.
#[test]
fn a_closure_read_that_fails_stops_the_sync_and_the_next_client_brings_its_credentials(
) -> anyhow::Result<()> {
    let (world, index) = world_with_a_namesake(&["shouter"])?;
    let token = "hpm-test-token-6b1d";
    let server = GitHttpServer::start(
        &world.root().join("remotes"),
        token,
        &world.root().join("https"),
    )?;
    let url = server.url("shouter.git");
    world.write_registry_entry(
        "shouter",
        &format!("name: shouter\nsources:\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"),
    )?;
    let pyproject_before = world.read("pyproject.toml")?;
    let trusting = |command: &mut std::process::Command| {
        command
            .env("UV_INDEX", index.url())
            .env("GIT_SSL_CAINFO", &server.certificate)
            .env("SSL_CERT_FILE", &server.certificate);
    };

    // The daemon starts with this client, which has no credential.
    let mut without = world.hpmctl();
    trusting(&mut without);
    let refused = without.args(["switch", "prod"]).output()?;
    assert!(!refused.status.success(), "{}", describe(&refused));
    let said = stderr(&refused);
    assert!(
        said.contains("package `shouter`: cannot fetch package repository")
            && said.contains(&url)
            && said.contains("credential"),
        "{}",
        describe(&refused)
    );
    assert_eq!(world.read("pyproject.toml")?, pyproject_before);
    assert!(world.bytes("uv.lock").is_none(), "a lock was written");

    // Another terminal whose git knows the token: same daemon, no restart.
    let mut with = world.hpmctl();
    trusting(&mut with);
    with.envs(server.git_env(token)?);
    let switched = with.args(["switch", "prod"]).output()?;
    assert!(switched.status.success(), "{}", describe(&switched));
    let lock = world.read("uv.lock")?;
    assert!(
        lock.contains(&format!("git = \"{url}?tag=v1.0.0")),
        "{lock}"
    );
    assert!(
        !lock.contains("9.9.9"),
        "the stranger's shouter was locked:\n{lock}"
    );
    // The token went to git through the helper: never into hpm's files.
    for file in ["pyproject.toml", "uv.lock", ".hpm/state.json"] {
        assert!(!world.read(file)?.contains(token), "{file} holds the token");
    }
    Ok(())
}

/// `name`'s block in `uv.lock`, or an empty string.
/// A source the user's own files give an internal package (here a tool
/// installed by path in a dependency group, with a stranger's namesake on
/// the index) survives every edit hpm makes to the core's pyproject:
/// `add`, `group add`, `group remove`, `remove`; after each the lock still
/// takes the tool from its folder.
#[test]
fn no_edit_drops_a_source_the_users_files_gave() -> anyhow::Result<()> {
    let world = World::new()?;
    let core = world.core();
    for name in ["plugin-a", "plugin-c"] {
        world.add_plugin(name, &[Release::new("v1.0.0", "1.0.0")])?;
    }
    world.register("plugin-a", "v1.0.0", "v1.0.0")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: []\ngroups:\n  slot:\n    options: [plugin-a]\n",
    )?;
    let tool = core.join("release_tool");
    std::fs::create_dir_all(tool.join("release_tool"))?;
    std::fs::write(tool.join("release_tool/__init__.py"), "")?;
    std::fs::write(
        tool.join("pyproject.toml"),
        "[project]\nname = \"release-tool\"\nversion = \"0.3.0\"\n\n\
         [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
         [tool.hatch.build.targets.wheel]\npackages = [\"release_tool\"]\n",
    )?;
    let source = "release-tool = { path = \"release_tool\" }";
    let pyproject = world.read("pyproject.toml")?
        + &format!(
            "\n[dependency-groups]\ndev = [\"release-tool\"]\n\n[tool.uv.sources]\n{source}\n"
        );
    std::fs::write(core.join("pyproject.toml"), pyproject)?;
    let wheel = stranger_wheel(&world.root().join("stranger"), "release-tool", "9.9.9")?;
    let index = Index::serve(&world.root().join("index"), &[("release-tool", wheel)])?;

    let url = world.remote_url("plugin-c");
    let edits: [&[&str]; 5] = [
        &["--no-daemon", "sync", "--force"],
        &["--no-daemon", "add", "plugin-c", "--git", &url],
        &[
            "--no-daemon",
            "group",
            "add",
            "slot",
            "--option",
            "plugin-a",
        ],
        &[
            "--no-daemon",
            "group",
            "remove",
            "slot",
            "--option",
            "plugin-a",
        ],
        &["--no-daemon", "remove", "plugin-c"],
    ];
    for args in edits {
        let done = with_index(&world, &index, args)?;
        assert!(done.status.success(), "{args:?}: {}", describe(&done));
        let pyproject = world.read("pyproject.toml")?;
        assert!(
            pyproject.contains(source),
            "{args:?} dropped the source:\n{pyproject}"
        );
        let lock = world.read("uv.lock")?;
        let locked = locked_block(&lock, "release-tool");
        assert!(
            locked.contains("directory = \"release_tool\"")
                || locked.contains("editable = \"release_tool\""),
            "{args:?}: release-tool is not from its folder:\n{locked}"
        );
    }
    Ok(())
}
