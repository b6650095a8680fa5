//! End-to-end tests of the engine through the real `hpmctl`, `uv` and `git`:
//! mode switches, overrides, rollback, crash recovery, user edits, and every
//! validation error. Each builds its own world in a temporary folder.

use hpm_tests::{describe, fake_uv, hanging_uv, stderr, stdout, wait_for, Release, World};

/// plugin-a: 1.0.0 (prod), 1.1.0.dev0 (staging), plus a dev clone.
fn two_plugin_world() -> anyhow::Result<World> {
    World::with_dev_plugins(&["plugin-a", "plugin-b"])
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

#[test]
fn a_package_override_leaves_the_rest_in_the_workspace_mode() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["switch", "prod"])?;
    std::fs::write(
        world.core().join("packages/plugin-a/plugin_a/__init__.py"),
        "VERSION = \"dev-a\"\n",
    )?;

    world.ok(&["use", "plugin-a", "dev"])?;
    assert_eq!(world.imported_version("plugin-a")?, "dev-a");
    assert_eq!(world.imported_version("plugin-b")?, "1.0.0");
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&world.ok(&["status", "--json"])?))?;
    assert_eq!(status["mode"], "prod");
    let packages = status["packages"].as_array().cloned().unwrap_or_default();
    let modes: Vec<(&str, &str)> = packages
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["mode"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(modes, [("plugin-a", "dev"), ("plugin-b", "prod")]);

    world.ok(&["reset", "plugin-a"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.0.0");
    Ok(())
}

#[test]
fn run_mode_applies_to_one_run_only() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    let output = world
        .hpmctl()
        .args(["sync"])
        .env("RUN_MODE", "prod")
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(world.imported_version("plugin-a")?, "1.0.0");
    // Without RUN_MODE the workspace is in its manifest mode (dev) again.
    world.ok(&["sync"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.1.0.dev0");
    assert!(world.read("pyproject.toml")?.contains("editable = true"));
    Ok(())
}

#[test]
fn extras_and_uv_args_reach_uv() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin("helper", &[Release::new("v1.0.0", "1.0.0")])?;
    world.register("helper", "v1.0.0", "v1.0.0")?;
    // `fast` pulls helper in; without the extra, helper is not installed.
    world.add_plugin("engine-x", &[Release::new("v1.0.0", "1.0.0")])?;
    let url = world.remote_url("engine-x");
    let helper_url = world.remote_url("helper");
    let clone = world.clone_for_dev("engine-x")?;
    let pyproject = std::fs::read_to_string(clone.join("pyproject.toml"))?.replace(
        "fast = []",
        &format!("fast = [\"helper @ git+{helper_url}@v1.0.0\"]"),
    ) + "\n[tool.hatch.metadata]\nallow-direct-references = true\n";
    std::fs::write(clone.join("pyproject.toml"), pyproject)?;
    world.write_registry_entry(
        "engine-x",
        &format!("name: engine-x\nsources:\n  dev: {{ type: local, path: packages/engine-x }}\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"),
    )?;
    world.write_manifest(
        "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages:\n  - name: engine-x\n    extras: [fast]\nsettings:\n  uv_args: [\"--no-install-project\"]\n",
    )?;
    let output = world.ok(&["sync", "--json"])?;
    assert!(world.read("pyproject.toml")?.contains("\"engine-x[fast]\""));
    assert_eq!(
        world.imported_version("helper")?,
        "1.0.0",
        "the extra's dependency is installed"
    );
    assert!(
        stderr(&output).contains("sync --no-install-project"),
        "{}",
        describe(&output)
    );
    let core_installed = std::fs::read_dir(world.core().join(".venv/lib"))?
        .flatten()
        .flat_map(|python| {
            std::fs::read_dir(python.path().join("site-packages"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .any(|entry| entry.file_name().to_string_lossy().starts_with("core_app"));
    assert!(
        !core_installed,
        "--no-install-project reached uv: the core itself is not installed"
    );
    Ok(())
}

#[test]
fn a_uv_failure_rolls_both_files_back_byte_for_byte() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin("plugin-a", &[Release::new("v1.0.0", "1.0.0")])?;
    // plugin-b 2.0 needs a package no index has: uv cannot resolve. (An
    // internal version it does not satisfy is caught by hpm before uv.)
    let broken = Release {
        dependencies: &["hpm-test-no-such-package-7f3a>=1"],
        ..Release::new("v2.0.0", "2.0.0")
    };
    world.add_plugin("plugin-b", &[Release::new("v1.0.0", "1.0.0"), broken])?;
    world.register("plugin-a", "v1.0.0", "v1.0.0")?;
    world.register("plugin-b", "v2.0.0", "v1.0.0")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\n",
    )?;
    world.ok(&["sync"])?;
    let (pyproject, lock, state) = (
        world.bytes("pyproject.toml"),
        world.bytes("uv.lock"),
        world.bytes(".hpm/state.json"),
    );
    assert!(lock.is_some());

    let output = world.run(&["switch", "staging"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let message = stderr(&output);
    assert!(message.contains("were restored"), "{message}");
    assert!(
        message.contains("hpm-test-no-such-package-7f3a"),
        "uv's reason is shown: {message}"
    );
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    assert_eq!(world.bytes("uv.lock"), lock);
    // The failed switch is not remembered, but neither is the last good
    // sync: uv may have changed the environment before it failed, so the
    // next sync runs uv again rather than calling it up to date.
    let state_json = |bytes: Option<Vec<u8>>| -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&bytes.unwrap_or_default())?)
    };
    let (before, after) = (
        state_json(state)?,
        state_json(world.bytes(".hpm/state.json"))?,
    );
    assert_eq!(
        after["mode"], before["mode"],
        "the failed switch is not remembered"
    );
    assert_eq!(after["overrides"], before["overrides"]);
    assert!(before["last_sync"].is_object() && after["last_sync"].is_null());
    assert!(!world.core().join(".hpm/journal").exists());
    assert_eq!(world.imported_version("plugin-b")?, "1.0.0");
    let output = world.ok(&["sync", "--json"])?;
    assert!(
        stdout(&output).contains("\"outcome\": \"synced\""),
        "{}",
        describe(&output)
    );
    Ok(())
}

/// Regression: `hpmctl --no-daemon` promised that Ctrl-C cancels, but had
/// no signal handling: hpmctl died and uv (its own process group) finished
/// the switch after the user aborted.
#[test]
fn ctrl_c_of_an_in_process_sync_stops_uv_and_restores_both_files() -> anyhow::Result<()> {
    for signal in ["-INT", "-TERM"] {
        let world = two_plugin_world()?;
        world.ok(&["--no-daemon", "sync"])?;
        let (pyproject, lock) = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));
        let (hanging, pid_file) = hanging_uv(world.root())?;
        let child = world
            .hpmctl_in_process()
            .args(["switch", "prod"])
            .env("HPM_UV", &hanging)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        wait_for("uv to start", || pid_file.exists())?;
        std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()?;
        let output = child.wait_with_output()?;
        assert_eq!(
            output.status.code(),
            Some(1),
            "{signal}: {}",
            describe(&output)
        );
        assert!(
            stderr(&output).contains("cancelling") && stderr(&output).contains("cancelled"),
            "{signal}: {}",
            describe(&output)
        );
        assert_eq!(world.bytes("pyproject.toml"), pyproject, "{signal}");
        assert_eq!(world.bytes("uv.lock"), lock, "{signal}");
        assert!(!world.core().join(".hpm/journal").exists(), "{signal}");
        // uv's whole group is gone (its child included) by the time hpmctl exits.
        let group: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
        wait_for("uv's process group to be reaped", || {
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(group), None).is_err()
        })?;
        let status = world.ok(&["--no-daemon", "status", "--json"])?;
        let status: serde_json::Value = serde_json::from_str(&stdout(&status))?;
        assert_eq!(
            status["mode"], "dev",
            "the aborted switch is not remembered"
        );
        assert!(status.get("interrupted").is_none(), "{status}");
    }
    Ok(())
}

/// Regression: a killed `--no-daemon` sync left `status` and `check` saying
/// nothing of the journal waiting to be rolled back.
#[test]
fn status_and_check_report_an_interrupted_sync() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["--no-daemon", "sync"])?;
    let (hanging, pid_file) = hanging_uv(world.root())?;
    let mut child = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &hanging)
        .spawn()?;
    wait_for("uv to start", || pid_file.exists())?;
    // hpm records uv's pid just after the spawn; the fake may have written
    // its own file first.
    let recorded = world.core().join(".hpm/journal/uv.pid");
    wait_for("hpm to record uv's pid", || recorded.exists())?;
    child.kill()?;
    child.wait()?;
    let status = world.ok(&["--no-daemon", "status", "--json"])?;
    let status: serde_json::Value = serde_json::from_str(&stdout(&status))?;
    let hint = status["interrupted"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("hpmctl sync"), "{status}");
    assert!(hint.contains("left uv running"), "uv still runs: {status}");
    let table = world.ok(&["--no-daemon", "status"])?;
    assert!(
        stdout(&table).contains("was interrupted"),
        "{}",
        describe(&table)
    );
    let check = world.run(&["--no-daemon", "check"]);
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    assert!(
        stderr(&check).contains("interrupted: a sync was interrupted"),
        "{}",
        describe(&check)
    );
    // The next sync stops the uv left behind and rolls back.
    let uv: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    world.ok(&["--no-daemon", "sync"])?;
    wait_for("the orphaned uv to be stopped", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(uv), None).is_err()
    })?;
    Ok(())
}

#[test]
fn a_journal_left_by_a_killed_run_is_rolled_back() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["sync"])?;
    let (pyproject, lock) = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));
    // A uv that hangs, so hpmctl is killed while pyproject.toml is rewritten.
    let (hanging, pid_file) = hanging_uv(world.root())?;
    let mut child = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &hanging)
        .spawn()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pid_file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    hpm_tests::kill_group(&pid_file)?;
    assert_ne!(
        world.bytes("pyproject.toml"),
        pyproject,
        "the killed run had written the file"
    );
    assert!(world.core().join(".hpm/journal/journal.json").exists());

    // The next run rolls back first, even though it then stops on a bad manifest.
    let manifest = world.read("hpm.yaml")?;
    world.write_manifest("version: 1\nmode: [\n")?;
    // In-process, as the killed run was: the message comes from this run.
    let output = world.hpmctl_in_process().arg("sync").output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("interrupted; put back"),
        "{}",
        describe(&output)
    );
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    assert_eq!(world.bytes("uv.lock"), lock);
    assert!(!world.core().join(".hpm/journal").exists());

    world.write_manifest(&manifest)?;
    world.ok(&["switch", "prod"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.0.0");
    Ok(())
}

#[test]
fn a_user_edit_during_the_sync_is_not_overwritten() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["sync"])?;
    // Real uv, started late, so the user has time to save pyproject.toml.
    let uv = hpm_engine::uv::Uv::find()?.path.display().to_string();
    let started = world.root().join("uv-started");
    let slow = fake_uv(
        world.root(),
        "0.9.0",
        &format!("touch {}\nsleep 2\nexec {} \"$@\"", started.display(), uv),
    )?;
    let child = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &slow)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    while !started.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut edited = world.read("pyproject.toml")?;
    edited.push_str("\n# my note, saved while hpm was syncing\n");
    std::fs::write(world.core().join("pyproject.toml"), &edited)?;
    let output = child.wait_with_output()?;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("was edited during the sync; your edit was kept"),
        "{}",
        describe(&output)
    );
    assert_eq!(world.read("pyproject.toml")?, edited);
    // The next sync sees the inputs changed and applies the plan on top of the edit.
    let output = world.ok(&["sync"])?;
    assert!(stdout(&output).contains("synced"), "{}", describe(&output));
    assert!(world
        .read("pyproject.toml")?
        .contains("# my note, saved while hpm was syncing"));
    Ok(())
}

#[test]
fn an_unchanged_workspace_is_a_no_op_without_uv() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["sync"])?;
    let missing_uv = world.root().join("no-such-uv");
    let output = world
        .hpmctl_in_process()
        .args(["sync"])
        .env("HPM_UV", &missing_uv)
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).starts_with("up to date"),
        "{}",
        describe(&output)
    );
    // A change in a dev clone's dependencies is a change: uv is needed again.
    let clone_pyproject = world.core().join("packages/plugin-a/pyproject.toml");
    let text = std::fs::read_to_string(&clone_pyproject)?
        .replace("dependencies = []", "dependencies = [\"plugin-b\"]");
    std::fs::write(&clone_pyproject, text)?;
    let output = world
        .hpmctl_in_process()
        .args(["sync"])
        .env("HPM_UV", &missing_uv)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("uv was not found"),
        "{}",
        describe(&output)
    );
    assert!(stderr(&output).contains("hint: install it with `python3 -m pip install uv`"));
    Ok(())
}

#[test]
fn a_too_old_uv_is_refused_before_any_file_changes() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    let pyproject = world.bytes("pyproject.toml");
    let old = fake_uv(world.root(), "0.1.0", "exit 0")?;
    let output = world
        .hpmctl_in_process()
        .args(["sync"])
        .env("HPM_UV", &old)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("uv 0.1.0 is too old"),
        "{}",
        describe(&output)
    );
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    Ok(())
}

#[test]
fn a_package_removed_from_the_manifest_leaves_pyproject() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["switch", "prod"])?;
    world.write_manifest(
        "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a]\n",
    )?;
    world.ok(&["sync"])?;
    let pyproject = world.read("pyproject.toml")?;
    assert!(!pyproject.contains("plugin-b"), "{pyproject}");
    assert!(pyproject.contains("plugin-a"));
    assert!(
        world.imported_version("plugin-b").is_err(),
        "uv sync removed it from the environment"
    );
    Ok(())
}

/// Each case: what to write, then the words the error must contain. None
/// may change `pyproject.toml`.
#[test]
fn every_validation_error_names_the_problem_and_changes_nothing() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    let url = world.remote_url("plugin-a");
    std::fs::create_dir_all(world.core().join("packages/impostor"))?;
    std::fs::write(
        world.core().join("packages/impostor/pyproject.toml"),
        "[project]\nname = \"someone-else\"\nversion = \"1\"\n",
    )?;
    let cases: Vec<(&str, String, String, Vec<&str>)> = vec![
        ("unknown package", "ghost".into(), String::new(), vec!["package `ghost`: has no registry entry", "hpm.yaml"]),
        (
            "missing source for the mode",
            "odd".into(),
            "name: odd\nsources:\n  prod: { type: pypi, version: \"1.0\" }\n".into(),
            vec!["package `odd`: has no source for mode `dev` (it has: prod)", "odd.yaml", "hpmctl use odd MODE"],
        ),
        (
            "local folder missing",
            "odd".into(),
            "name: odd\nsources:\n  dev: { type: local, path: packages/odd }\n".into(),
            vec!["package `odd`: local folder `packages/odd` does not exist", "hpmctl dev odd"],
        ),
        (
            "local folder of another project",
            "odd".into(),
            "name: odd\nsources:\n  dev: { type: local, path: packages/impostor }\n".into(),
            vec!["is the project `someone-else`, not `odd`"],
        ),
        (
            "git tag that does not exist",
            "odd".into(),
            format!("name: odd\nsources:\n  dev: {{ type: git, url: \"{url}\", tag: v9.9.9 }}\n"),
            vec!["package `odd`: tag `v9.9.9` does not exist in", "tags there: v1.1.0.dev0, v1.0.0"],
        ),
        (
            "ref that is neither tag nor branch",
            "odd".into(),
            format!("name: odd\nsources:\n  dev: {{ type: git, url: \"{url}\", ref: nope }}\n"),
            vec!["ref `nope` is neither a tag nor a branch"],
        ),
        (
            "ext:: transport",
            "odd".into(),
            "name: odd\nsources:\n  dev: { type: git, url: \"ext::sh -c touch% /tmp/hpm-pwned\", tag: v1 }\n".into(),
            vec!["uses a transport hpm does not allow", "odd.yaml"],
        ),
        (
            "remote that does not exist",
            "odd".into(),
            format!("name: odd\nsources:\n  dev: {{ type: git, url: \"file://{}/vanished.git\", tag: v1 }}\n", world.root().display()),
            // The closure reads the package's metadata first: the failed
            // fetch stops the sync with the package, the remote and git's
            // own words.
            vec!["package `odd`: cannot fetch package repository", "vanished.git", "does not appear to be a git repository"],
        ),
        (
            "registry entry that does not parse",
            "odd".into(),
            "name: odd\nsources:\n  dev: { type: local, path: [\n".into(),
            vec!["odd.yaml`:", "package `odd`"],
        ),
    ];
    let pyproject = world.bytes("pyproject.toml");
    for (what, package, entry, expected) in cases {
        if !entry.is_empty() {
            world.write_registry_entry(&package, &entry)?;
        }
        world.write_manifest(&format!(
            "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a, {package}]\n"
        ))?;
        let output = world.run(&["sync"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{what}: {}",
            describe(&output)
        );
        for words in expected {
            assert!(
                stderr(&output).contains(words),
                "{what}: missing `{words}` in\n{}",
                describe(&output)
            );
        }
        assert_eq!(
            world.bytes("pyproject.toml"),
            pyproject,
            "{what} changed pyproject.toml"
        );
    }
    assert!(!std::path::Path::new("/tmp/hpm-pwned").exists());

    // Group rules, and a YAML error with its line and column.
    world.write_manifest("version: 1\nmode: dev\nregistry: ./hpm-registry\ngroups:\n  db:\n    options: [plugin-a, plugin-b]\n    selected: [plugin-a, plugin-b]\n")?;
    let output = world.run(&["sync"]);
    assert!(
        stderr(&output).contains("group `db` selects 2 options but allows one"),
        "{}",
        describe(&output)
    );
    world.write_manifest(
        "version: 1\nmode: dev\ngroups:\n  db:\n    options: [plugin-a]\n    selected: plugin-z\n",
    )?;
    let output = world.run(&["sync"]);
    assert!(
        stderr(&output).contains("selects `plugin-z`, which is not one of its options"),
        "{}",
        describe(&output)
    );
    world.write_manifest("version: 1\nmode: dev\npackages:\n  - plugin-a\n  oops: [\n")?;
    let output = world.run(&["sync", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_str(&stdout(&output))?;
    assert_eq!(error["error"]["code"], 1002);
    let problem = &error["error"]["problems"][0];
    assert!(
        problem["file"].as_str().unwrap_or("").ends_with("hpm.yaml"),
        "{problem}"
    );
    assert!(
        problem["line"].as_u64().is_some() && problem["column"].as_u64().is_some(),
        "{problem}"
    );
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    Ok(())
}

#[test]
fn a_read_only_pyproject_is_a_clear_error_and_stays_as_it_is() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let world = two_plugin_world()?;
    let path = world.core().join("pyproject.toml");
    let before = world.bytes("pyproject.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))?;
    let output = world.run(&["sync"]);
    let as_json = world.run(&["sync", "--json"]);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("pyproject.toml`: the file is read-only"),
        "{}",
        describe(&output)
    );
    // The machine's, not the inputs': `kind` says so.
    let error: serde_json::Value = serde_json::from_str(&stdout(&as_json))?;
    assert_eq!(error["error"]["kind"], "io", "{error}");
    assert_eq!(world.bytes("pyproject.toml"), before);
    assert!(
        !world.core().join(".hpm/journal").exists(),
        "the journal was dropped"
    );
    Ok(())
}

/// A switch back to a mode synced before lists only the remotes whose
/// references the lock uv starts from does not pin: uv installs a locked
/// commit without asking the remote, so neither does hpm (the switch
/// works offline, as `uv sync` with that lock does). A reference the lock
/// does not pin is still checked on its remote.
#[test]
fn a_switch_back_lists_only_the_remotes_its_lock_does_not_answer() -> anyhow::Result<()> {
    let world = two_plugin_world()?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&["--no-daemon", "switch", "dev"])?;
    let remote = world.root().join("remotes/plugin-a.git");
    let away = world.root().join("remotes/plugin-a.away");
    std::fs::rename(&remote, &away)?;

    world.ok(&["--no-daemon", "switch", "prod"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.0.0");

    // The prod tag moved to one the lock does not pin: its remote is asked.
    world.ok(&["--no-daemon", "switch", "dev"])?;
    world.register("plugin-a", "v1.1.0.dev0", "v1.1.0.dev0")?;
    let pyproject = world.read("pyproject.toml")?;
    let refused = world.run(&["--no-daemon", "switch", "prod"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("plugin-a.git"),
        "{}",
        describe(&refused)
    );
    assert_eq!(world.read("pyproject.toml")?, pyproject);
    std::fs::rename(&away, &remote)?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.1.0.dev0");
    Ok(())
}

/// The version `uv.lock` locks `name` at.
fn locked_version(world: &World, name: &str) -> anyhow::Result<String> {
    let lock = world.read("uv.lock")?;
    let block = lock
        .split("[[package]]")
        .find(|block| {
            block
                .lines()
                .any(|line| line == format!("name = \"{name}\""))
        })
        .ok_or_else(|| anyhow::anyhow!("`{name}` is not locked:\n{lock}"))?;
    let version = block
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or_else(|| anyhow::anyhow!("no version:\n{block}"))?;
    Ok(version.to_string())
}

/// Regression: prod synced with a dependency at 2.0.0, the user re-locks
/// it at 1.0.0 (`uv lock -P`), `switch staging`, `switch prod`: the lock
/// was back at 2.0.0, the user's nowhere. Leaving a mode, the lock the
/// user has now becomes that mode's, and the report says so; through the
/// daemon and without it.
#[test]
fn a_lock_the_user_relocked_is_that_modes_lock_after_a_round_trip() -> anyhow::Result<()> {
    use hpm_tests::index::{stranger_wheel, Index};
    for daemon in [true, false] {
        let world = two_plugin_world()?;
        let wheels = world.root().join("wheels");
        let index = Index::serve(
            &world.root().join("index"),
            &[
                ("extdep", stranger_wheel(&wheels, "extdep", "1.0.0")?),
                ("extdep", stranger_wheel(&wheels, "extdep", "2.0.0")?),
            ],
        )?;
        let pyproject = world
            .read("pyproject.toml")?
            .replace("dependencies = [\n", "dependencies = [\n    \"extdep\",\n");
        std::fs::write(world.core().join("pyproject.toml"), pyproject)?;
        let hpm = |args: &[&str]| -> anyhow::Result<std::process::Output> {
            let mut command = world.hpmctl();
            if !daemon {
                command.arg("--no-daemon");
            }
            let output = command.env("UV_INDEX", index.url()).args(args).output()?;
            anyhow::ensure!(output.status.success(), "{args:?}: {}", describe(&output));
            Ok(output)
        };
        hpm(&["sync", "--force"])?;
        hpm(&["switch", "prod"])?;
        assert_eq!(locked_version(&world, "extdep")?, "2.0.0");

        let uv = hpm_engine::uv::Uv::find()?;
        let relocked = std::process::Command::new(&uv.path)
            .current_dir(world.core())
            .env("UV_INDEX", index.url())
            .args(["lock", "-P", "extdep==1.0.0"])
            .output()?;
        assert!(relocked.status.success(), "{}", describe(&relocked));
        assert_eq!(locked_version(&world, "extdep")?, "1.0.0");

        let left = hpm(&["switch", "staging"])?;
        assert!(
            stdout(&left).contains("kept as prod's lock"),
            "daemon {daemon}: {}",
            describe(&left)
        );
        hpm(&["switch", "prod"])?;
        assert_eq!(
            locked_version(&world, "extdep")?,
            "1.0.0",
            "daemon {daemon}: the user's lock was lost"
        );
    }
    Ok(())
}
