//! `hpmctl add` and `hpmctl remove`: a package from a bare remote, its
//! tags proposed and checked there, written to the registry and to
//! `hpm.yaml` (comments kept), synced; taken out again.

use hpm_tests::{describe, stderr, stdout, Release, World};
use serde_json::Value;

fn json(output: &std::process::Output) -> anyhow::Result<Value> {
    serde_json::from_str(&stdout(output))
        .map_err(|e| anyhow::anyhow!("not JSON ({e}):\n{}", describe(output)))
}

const MANIFEST: &str = "version: 1\nmode: prod\nregistry: ./hpm-registry\n# the plugins we ship\npackages: [plugin-a]  # keep sorted\n";

fn world() -> anyhow::Result<World> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.write_manifest(MANIFEST)?;
    world.ok(&["--no-daemon", "sync"])?;
    world.add_plugin(
        "plugin-c",
        &[
            Release::new("v0.9.0", "0.9.0"),
            Release::new("v1.0.0", "1.0.0"),
            Release::new("v1.1.0.dev0", "1.1.0.dev0"),
            Release::new("v1.1.0.dev1", "1.1.0.dev1"),
        ],
    )?;
    Ok(world)
}

#[test]
fn add_proposes_the_remotes_tags_writes_both_files_and_syncs() -> anyhow::Result<()> {
    let world = world()?;
    let url = world.remote_url("plugin-c");
    let entry = world.core().join("hpm-registry/plugin-c.yaml");

    // A ref the remote does not have: refused, nothing written.
    let refused = world.run(&[
        "--no-daemon",
        "add",
        "plugin-c",
        "--git",
        &url,
        "--prod",
        "v9.9.9",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("`v9.9.9` is not a tag or branch"),
        "{}",
        describe(&refused)
    );
    assert!(
        stderr(&refused).contains("`v1.0.0`"),
        "the highest stable tag is named"
    );
    assert_eq!(world.read("hpm.yaml")?, MANIFEST);
    assert!(!entry.exists());

    // A dry run shows both files and the proposals, and writes nothing.
    let dry = world.ok(&["--no-daemon", "add", "plugin-c", "--git", &url, "--dry-run"])?;
    let shown = stdout(&dry);
    assert!(
        shown.contains("+packages: [plugin-a, plugin-c]  # keep sorted"),
        "{shown}"
    );
    assert!(shown.contains("+name: \"plugin-c\""), "{shown}");
    assert!(shown.contains("prod: `v1.0.0`"), "{shown}");
    assert_eq!(world.read("hpm.yaml")?, MANIFEST);
    assert!(!entry.exists());

    let report = json(&world.ok(&["--no-daemon", "add", "plugin-c", "--git", &url, "--json"])?)?;
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("prod: `v1.0.0`, the highest stable tag"),
        "{report:#}"
    );
    assert!(
        notes.contains("staging: `v1.1.0.dev1`, the highest `.devN` tag"),
        "{report:#}"
    );
    assert_eq!(
        world.read("hpm.yaml")?,
        MANIFEST.replace("[plugin-a]", "[plugin-a, plugin-c]")
    );
    let written = std::fs::read_to_string(&entry)?;
    assert!(
        written.contains("tag: \"v1.0.0\"") && written.contains("tag: \"v1.1.0.dev1\""),
        "{written}"
    );
    assert_eq!(world.imported_version("plugin-c")?, "1.0.0");

    // Out again: the entry stays, so a plain `add` brings it back.
    world.ok(&["--no-daemon", "remove", "plugin-c"])?;
    assert_eq!(world.read("hpm.yaml")?, MANIFEST);
    assert!(world.imported_version("plugin-c").is_err(), "uninstalled");
    assert!(entry.exists());
    let again = json(&world.ok(&["--no-daemon", "add", "plugin-c", "--json"])?)?;
    assert!(
        again["notes"]
            .to_string()
            .contains("uses the registry entry"),
        "{again:#}"
    );
    assert_eq!(world.imported_version("plugin-c")?, "1.0.0");

    world.ok(&["--no-daemon", "remove", "plugin-c", "--registry-too"])?;
    assert!(!entry.exists());
    assert_eq!(world.read("hpm.yaml")?, MANIFEST);
    Ok(())
}

/// A sync that fails takes the added files back out.
#[test]
fn an_add_whose_sync_fails_leaves_no_trace() -> anyhow::Result<()> {
    let world = world()?;
    let url = world.remote_url("plugin-c");
    let failing = hpm_tests::fake_uv(world.root(), "0.9.0", "echo 'no resolution' >&2; exit 1")?;
    let output = world
        .hpmctl_in_process()
        .args(["add", "plugin-c", "--git", &url])
        .env("HPM_UV", &failing)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(world.read("hpm.yaml")?, MANIFEST);
    assert!(!world.core().join("hpm-registry/plugin-c.yaml").exists());
    Ok(())
}

/// Regression: an add whose registry entry could not be written (a folder
/// at its path, a name too long for the file system) left `hpm.yaml`
/// edited, so every later sync failed; the hint said "permissions and free
/// disk space". Now neither file changes, and the hint names the cause.
#[test]
fn an_add_whose_entry_cannot_be_written_leaves_hpm_yaml_as_it_was() -> anyhow::Result<()> {
    let world = world()?;
    let url = world.remote_url("plugin-c");
    let entry = world.core().join("hpm-registry/plugin-c.yaml");
    std::fs::create_dir_all(&entry)?;
    let long = format!("plugin-{}", "c".repeat(260));
    let cases: [(&str, &[&str], &str); 2] = [
        (
            "a folder at the entry's path",
            &["add", "plugin-c", "--git", &url],
            "a folder is where the file should be",
        ),
        (
            "a name too long for a file",
            &["--no-daemon", "add", &long, "--git", &url],
            "too long",
        ),
    ];
    for (what, args, hint) in cases {
        let output = world.run(args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{what}: {}",
            describe(&output)
        );
        let said = stderr(&output);
        assert!(
            said.contains(hint) && !said.contains("free disk space"),
            "{what}: {said}"
        );
        assert_eq!(world.read("hpm.yaml")?, MANIFEST, "{what}");
    }
    assert!(entry.is_dir());
    Ok(())
}

/// Regression: a killed `add` left `hpm.yaml` and the new registry entry
/// edited while `pyproject.toml` and `uv.lock` were rolled back, and the
/// next sync silently finished the killed command. The edits are journaled
/// with the sync: `status` says the command was interrupted, and the next
/// run puts every file back.
#[test]
fn a_killed_add_is_put_back_whole_by_the_next_run() -> anyhow::Result<()> {
    let world = world()?;
    let url = world.remote_url("plugin-c");
    let entry = world.core().join("hpm-registry/plugin-c.yaml");
    let pyproject = world.read("pyproject.toml")?;
    let (hanging, pid_file) = hpm_tests::hanging_uv(world.root())?;
    let mut child = world
        .hpmctl_in_process()
        .args(["add", "plugin-c", "--git", &url])
        .env("HPM_UV", &hanging)
        .spawn()?;
    hpm_tests::wait_for("uv to start", || pid_file.exists())?;
    let recorded = world.core().join(".hpm/journal/uv.pid");
    hpm_tests::wait_for("hpm to record uv's pid", || recorded.exists())?;
    assert!(world.read("hpm.yaml")?.contains("plugin-c") && entry.exists());
    child.kill()?;
    child.wait()?;

    let status = world.ok(&["--no-daemon", "status", "--json"])?;
    let status: Value = serde_json::from_str(&stdout(&status))?;
    assert!(
        status["interrupted"]["hint"].as_str().is_some(),
        "{status:#}"
    );
    world.ok(&["--no-daemon", "sync"])?;
    assert_eq!(world.read("hpm.yaml")?, MANIFEST);
    assert!(!entry.exists(), "the killed add's entry stayed");
    assert_eq!(world.read("pyproject.toml")?, pyproject);
    Ok(())
}

/// `--group` adds the package as an option of the group (selected by no
/// one yet); `--no-sync` writes the files and runs no uv.
#[test]
fn add_to_a_group_without_a_sync_only_writes_the_files() -> anyhow::Result<()> {
    let world = world()?;
    let manifest = format!("{MANIFEST}groups:\n  slot:\n    options: [plugin-a]  # the adapters\n");
    let manifest = manifest.replace("packages: [plugin-a]  # keep sorted\n", "packages: []\n");
    world.write_manifest(&manifest)?;
    let url = world.remote_url("plugin-c");
    let lock = world.bytes("uv.lock");
    let report = json(&world.ok(&[
        "--no-daemon",
        "add",
        "plugin-c",
        "--git",
        &url,
        "--group",
        "slot",
        "--no-sync",
        "--json",
    ])?)?;
    assert_eq!(report["outcome"], "edited", "{report:#}");
    assert!(
        report["notes"].to_string().contains("not synced"),
        "{report:#}"
    );
    assert_eq!(
        world.read("hpm.yaml")?,
        manifest.replace(
            "[plugin-a]  # the adapters",
            "[plugin-a, plugin-c]  # the adapters"
        )
    );
    assert!(world.core().join("hpm-registry/plugin-c.yaml").exists());
    assert_eq!(world.bytes("uv.lock"), lock, "no sync ran");
    Ok(())
}

/// Through the daemon, with `auto_sync` on (the default): the watcher sees
/// the writes of `add --no-sync` and `remove --no-sync` as hpm's own and
/// syncs nothing.
#[test]
fn no_sync_edits_through_the_daemon_are_not_synced_behind_the_users_back() -> anyhow::Result<()> {
    let world = world()?;
    let url = world.remote_url("plugin-c");
    let lock = world.bytes("uv.lock");
    let events = hpm_tests::EventStream::follow(&world)?;
    let mark = events.len();
    world.ok(&["add", "plugin-c", "--git", &url, "--no-sync"])?;
    assert!(world.read("hpm.yaml")?.contains("plugin-c"));
    world.ok(&["remove", "plugin-a", "--no-sync"])?;
    assert!(!world.read("hpm.yaml")?.contains("plugin-a"));
    // Past the watcher's debounce and burst settling (a sync it queued
    // would have started by now); then a barrier: every job queued by then
    // has started.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(world.bytes("uv.lock"), lock, "no sync ran");
    let started = events.jobs_before_barrier(&world, mark)?;
    let kinds: Vec<&Value> = started.iter().map(|e| &e["change"]["kind"]).collect();
    assert_eq!(kinds, ["add", "remove"], "{started:#?}");
    Ok(())
}

/// Regression: `hpmctl dev release-tool` for a package hpm does not
/// manage said it "has a mode override", and told to run `reset`, which
/// changed nothing. The error now names the real cause and a step that
/// works; nothing is written.
#[test]
fn dev_on_a_package_hpm_does_not_manage_names_the_cause_and_the_way() -> anyhow::Result<()> {
    let world = world()?;
    let before = (world.bytes("pyproject.toml"), world.bytes("hpm.yaml"));
    let unknown = world.run(&["--no-daemon", "dev", "release-tool", "--yes"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", describe(&unknown));
    let said = stderr(&unknown);
    assert!(
        said.contains("package `release-tool`: is not in")
            && said.contains("so hpm does not manage it")
            && said.contains("`hpmctl add release-tool --git URL`")
            && !said.contains("override")
            && !said.contains("reset"),
        "{said}"
    );
    // With a registry entry, adding it by name is the step.
    world.register("plugin-c", "v1.1.0.dev0", "v1.0.0")?;
    let listed_not = world.run(&["--no-daemon", "use", "plugin-c", "staging"]);
    assert_eq!(
        listed_not.status.code(),
        Some(1),
        "{}",
        describe(&listed_not)
    );
    assert!(
        stderr(&listed_not).contains("`hpmctl add plugin-c` when the registry has its entry"),
        "{}",
        describe(&listed_not)
    );
    assert_eq!(
        (world.bytes("pyproject.toml"), world.bytes("hpm.yaml")),
        before
    );
    Ok(())
}
