//! Regressions of the adversarial round (nothing the user has is ever lost
//! or misreported): links inside and around the workspace, line endings,
//! user edits of `uv.lock` across switches and crashes, damaged journal
//! copies, clones outside the workspace, aliased workspace paths, blocking
//! files, a lock deleted during a sync, and a daemon of another version
//! with a job in flight. Each test names the defect it pins.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use hpm_tests::{describe, fake_uv, stderr, stdout, target_dir, wait_for, World};
use serde_json::Value;

fn json(output: &std::process::Output) -> anyhow::Result<Value> {
    serde_json::from_str(&stdout(output))
        .map_err(|e| anyhow::anyhow!("not JSON ({e}):\n{}", describe(output)))
}

fn synced() -> anyhow::Result<World> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.ok(&["--no-daemon", "sync"])?;
    Ok(world)
}

/// High 1: a repository may carry `.hpm/lock -> ~/notes.txt`; the sync
/// truncated the notes. A `.hpm` that is a link wrote hpm's state wherever
/// it pointed.
#[test]
fn links_hpm_did_not_make_inside_dot_hpm_are_never_followed() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    let notes = world.root().join("notes.txt");
    std::fs::write(&notes, "my notes\n")?;
    std::fs::create_dir_all(world.core().join(".hpm"))?;
    std::os::unix::fs::symlink(&notes, world.core().join(".hpm/lock"))?;
    let output = world.run(&["--no-daemon", "sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("is a symbolic link"),
        "{}",
        describe(&output)
    );
    assert_eq!(std::fs::read_to_string(&notes)?, "my notes\n");

    std::fs::remove_dir_all(world.core().join(".hpm"))?;
    let elsewhere = world.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere)?;
    std::os::unix::fs::symlink(&elsewhere, world.core().join(".hpm"))?;
    let output = world.run(&["--no-daemon", "sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains(".hpm` is a symbolic link"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere)?.count(),
        0,
        "nothing written through the link"
    );
    Ok(())
}

/// High 2: `HPM_SOCKET=/tmp/hpmd.sock` made `/tmp` 0700; two sockets in one
/// folder shared one lock and the second daemon never started.
#[test]
fn the_socket_folder_keeps_its_mode_and_each_socket_has_its_own_lock() -> anyhow::Result<()> {
    let world = World::new()?;
    let open = world.root().join("open");
    std::fs::create_dir_all(&open)?;
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777))?;
    let output = Command::new(target_dir().join("hpmd"))
        .args(["--socket", &open.join("s.sock").display().to_string()])
        .output()?;
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        stderr(&output).contains("other users can enter it"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        std::fs::metadata(&open)?.permissions().mode() & 0o7777,
        0o1777
    );

    let private = world.root().join("private");
    let sockets = [private.join("a.sock"), private.join("b.sock")];
    for socket in &sockets {
        let output = world
            .hpmctl()
            .args(["daemon", "start", "--socket", &socket.display().to_string()])
            .output()?;
        assert!(output.status.success(), "{}", describe(&output));
    }
    for socket in &sockets {
        let status = world
            .hpmctl()
            .args([
                "daemon",
                "status",
                "--json",
                "--socket",
                &socket.display().to_string(),
            ])
            .output()?;
        assert_eq!(json(&status)?["running"], true, "{}", describe(&status));
        world
            .hpmctl()
            .args(["daemon", "stop", "--socket", &socket.display().to_string()])
            .output()?;
    }
    Ok(())
}

/// Medium 4 and 6: a CRLF `pyproject.toml` came back LF; a symlinked one
/// became a regular file (after a rollback too).
#[test]
fn line_endings_and_a_symlinked_pyproject_survive_syncs_and_rollbacks() -> anyhow::Result<()> {
    let world = synced()?;
    let text = world.read("pyproject.toml")?;
    let real = world.root().join("pyproject.real.toml");
    std::fs::write(&real, text.replace('\n', "\r\n"))?;
    std::fs::remove_file(world.core().join("pyproject.toml"))?;
    std::os::unix::fs::symlink(&real, world.core().join("pyproject.toml"))?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    let link = std::fs::symlink_metadata(world.core().join("pyproject.toml"))?;
    assert!(link.file_type().is_symlink(), "the link stays a link");
    let written = std::fs::read_to_string(&real)?;
    assert!(written.contains("tag = \"v1.0.0\""), "{written}");
    assert!(
        !written.replace("\r\n", "").contains('\n'),
        "CRLF kept: {written:?}"
    );

    let failing = fake_uv(world.root(), "0.9.0", "echo 'no resolution' >&2; exit 1")?;
    let output = world
        .hpmctl_in_process()
        .args(["switch", "staging"])
        .env("HPM_UV", &failing)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let link = std::fs::symlink_metadata(world.core().join("pyproject.toml"))?;
    assert!(link.file_type().is_symlink(), "the rollback keeps the link");
    assert_eq!(
        std::fs::read_to_string(&real)?,
        written,
        "restored byte for byte"
    );
    Ok(())
}

/// Medium 8: a prod → staging → prod round trip put the old prod snapshot
/// over a lock the user re-locked in between (now the user's lock becomes
/// staging's, the mode it was re-locked in); crash recovery overwrote a
/// `uv.lock` changed after the crash.
#[test]
fn a_uv_lock_the_user_changed_is_kept_or_saved() -> anyhow::Result<()> {
    let world = synced()?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&["--no-daemon", "switch", "staging"])?;
    let lock = world.read("uv.lock")?;
    let users = format!("# re-locked by hand\n{lock}");
    std::fs::write(world.core().join("uv.lock"), &users)?;
    let report = json(&world.ok(&["--no-daemon", "switch", "prod", "--json"])?)?;
    assert!(
        report["notes"]
            .to_string()
            .contains("kept as staging's lock"),
        "{report}"
    );
    assert_eq!(world.read(".hpm/locks/staging.uv.lock")?, users);

    hpm_tests::crash_mid_switch(&world, "staging")?;
    let changed = format!("# changed after the crash\n{}", world.read("uv.lock")?);
    std::fs::write(world.core().join("uv.lock"), &changed)?;
    let output = world.run(&["--no-daemon", "status"]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = world.ok(&["--no-daemon", "sync"])?;
    assert!(
        stderr(&output).contains("that version is saved as"),
        "{}",
        describe(&output)
    );
    let saved = std::fs::read_dir(world.core().join(".hpm/backup"))?
        .flatten()
        .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t == changed));
    assert!(saved, "the changed uv.lock is saved under .hpm/backup/");
    Ok(())
}

/// Medium 9: recovery wrote back `.orig` copies unchecked: a truncated one
/// became `pyproject.toml`.
#[test]
fn a_damaged_journal_copy_stops_recovery_and_touches_nothing() -> anyhow::Result<()> {
    let world = synced()?;
    hpm_tests::crash_mid_switch(&world, "prod")?;
    let half_switched = world.bytes("pyproject.toml");
    let copy = world.core().join(".hpm/journal/pyproject.toml.orig");
    let original = std::fs::read(&copy)?;
    std::fs::write(&copy, &original[..original.len() / 2])?;
    let output = world.run(&["--no-daemon", "sync", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let error = json(&output)?;
    assert_eq!(
        error["error"]["code"],
        hpm_protocol::codes::INTERRUPTED,
        "{error}"
    );
    // Not the user's inputs: hpm's own record, for a person to look at.
    assert_eq!(error["error"]["kind"], "damaged", "{error}");
    assert!(
        error["error"]["message"]
            .to_string()
            .contains("does not match"),
        "{error}"
    );
    assert!(
        error["error"]["hint"].to_string().contains("compare"),
        "{error}"
    );
    assert_eq!(
        world.bytes("pyproject.toml"),
        half_switched,
        "nothing touched"
    );
    assert!(copy.exists(), "the journal is kept for a person to look at");
    Ok(())
}

/// Medium 10: a registry `dev` path like `../../../x` made `dev --yes`
/// clone outside the workspace.
#[test]
fn a_registry_cannot_send_clones_outside_the_workspace() -> anyhow::Result<()> {
    let world = synced()?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    let url = world.remote_url("plugin-b");
    world.write_registry_entry(
        "plugin-b",
        &format!(
            "name: plugin-b\nrepo: {url}\nsources:\n  dev: {{ type: local, path: ../outside/plugin-b }}\n  prod: {{ type: git, url: \"{url}\", ref: v1.0.0 }}\n"
        ),
    )?;
    let output = world.run(&["--no-daemon", "dev", "plugin-b", "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("outside the workspace"),
        "{}",
        describe(&output)
    );
    assert!(
        stderr(&output).contains("allow_clones_outside"),
        "{}",
        describe(&output)
    );
    assert!(!world.root().join("outside").exists());

    let manifest = world.read("hpm.yaml")?;
    world.write_manifest(&format!(
        "{manifest}settings:\n  allow_clones_outside: [../outside]\n"
    ))?;
    let output = world.ok(&["--no-daemon", "dev", "plugin-b", "--yes"])?;
    assert!(
        stderr(&output).contains("allowed by `hpm.yaml`"),
        "{}",
        describe(&output)
    );
    assert!(world
        .root()
        .join("outside/plugin-b/pyproject.toml")
        .is_file());
    Ok(())
}

/// Medium 11: a symlink or `..` spelling opened a second workspace in the
/// daemon for the same folder.
#[test]
fn one_folder_is_one_workspace_however_it_is_spelled() -> anyhow::Result<()> {
    let world = synced()?;
    let alias = world.root().join("alias");
    std::os::unix::fs::symlink(world.core(), &alias)?;
    let spellings = [
        alias.display().to_string(),
        format!("{}/..", world.core().join("src").display()),
        world.core().display().to_string(),
    ];
    for spelling in &spellings {
        world.ok(&["--workspace", spelling, "sync"])?;
    }
    let hello = json(&world.ok(&["daemon", "status", "--json"])?)?;
    let open = hello["hello"]["workspaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(open.len(), 1, "{hello}");
    Ok(())
}

/// Medium 13: a FIFO at `uv.lock` pinned the daemon's threads; hpm reads
/// only regular files.
#[test]
fn a_fifo_at_uv_lock_is_refused_and_blocks_nothing() -> anyhow::Result<()> {
    let world = synced()?;
    std::fs::remove_file(world.core().join("uv.lock"))?;
    let made = Command::new("mkfifo")
        .arg(world.core().join("uv.lock"))
        .status()?;
    anyhow::ensure!(made.success());
    let output = world.run(&["status"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("not a regular file"),
        "{}",
        describe(&output)
    );
    let other = synced()?;
    let answer = other.run(&["--socket", &world.socket().display().to_string(), "status"]);
    assert!(answer.status.success(), "{}", describe(&answer));
    Ok(())
}

/// Medium 14: `uv.lock` deleted during a sync: every later sync said "up to
/// date".
#[test]
fn a_lock_deleted_during_a_sync_is_not_recorded_as_synced() -> anyhow::Result<()> {
    let world = synced()?;
    let uv = hpm_engine::uv::Uv::find()?.path;
    let deleting = fake_uv(
        world.root(),
        "0.9.0",
        &format!("{} \"$@\" && rm -f uv.lock", uv.display()),
    )?;
    let output = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &deleting)
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!world.core().join("uv.lock").exists());
    let report = json(&world.ok(&["--no-daemon", "sync", "--json"])?)?;
    assert_eq!(report["outcome"], "synced", "{report}");
    assert!(world.core().join("uv.lock").exists());
    Ok(())
}

/// Regression (the reliability suite's `kill -9 AroundTheWrite`, 1 trial in
/// 17): hpm killed between starting uv and writing uv's pid file left a uv
/// that no restart knew to stop; it wrote `uv.lock` after the next sync had
/// read it ("changed by someone else"). A program hpm starts now dies with
/// it. The fake uv waits a second, then leaves a mark; hpm dies (the test
/// seam `HPM_CRASH_AFTER_SPAWN`) just after starting it.
#[test]
fn a_uv_started_just_before_hpm_is_killed_dies_with_it() -> anyhow::Result<()> {
    let world = synced()?;
    let mark = world.root().join("uv-outlived-hpm");
    let uv = fake_uv(
        world.root(),
        "0.9.0",
        &format!("sleep 1\ntouch {mark}", mark = mark.display()),
    )?;
    let name = uv.file_name().unwrap_or_default().to_owned();
    let output = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &uv)
        .env(hpm_engine::process::CRASH_AFTER_SPAWN, &name)
        .output()?;
    assert!(!output.status.success(), "{}", describe(&output));
    // It was started (the seam fires after the spawn): once no process runs
    // it any more, it either left its mark or was killed before.
    wait_for("the fake uv to be gone", || !runs(&uv))?;
    assert!(!mark.exists(), "uv outlived the hpm that started it");
    Ok(())
}

/// Whether a process's command line names `program`.
fn runs(program: &std::path::Path) -> bool {
    let program = program.as_os_str().as_encoded_bytes();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|process| {
        std::fs::read(process.path().join("cmdline")).is_ok_and(|cmdline| {
            cmdline
                .split(|&byte| byte == 0)
                .any(|argument| argument == program)
        })
    })
}

/// Medium 12: a client of another version replaced the daemon while it ran
/// a switch, cancelling it.
#[test]
fn a_daemon_with_a_job_in_flight_is_replaced_only_after_it() -> anyhow::Result<()> {
    hpm_tests::replacing_a_daemon_mid_job_waits_for_the_job(&synced()?)
}

/// Medium 7: when uv failed and the rollback itself could not write, hpm
/// said "nothing was changed" while `pyproject.toml` held the new entries.
#[test]
fn a_rollback_that_cannot_write_says_so_and_keeps_the_journal() -> anyhow::Result<()> {
    let world = synced()?;
    // uv fails after putting a folder where `pyproject.toml` was: putting
    // the file back cannot work until a person looks.
    let failing = fake_uv(
        world.root(),
        "0.9.0",
        "rm pyproject.toml && mkdir pyproject.toml && echo 'no solution for plugin-a' >&2; exit 1",
    )?;
    let output = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &failing)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let said = stderr(&output);
    assert!(
        said.contains("no solution for plugin-a"),
        "uv's own error: {said}"
    );
    assert!(
        said.contains("restoring `pyproject.toml` and `uv.lock` failed too"),
        "{said}"
    );
    assert!(!said.contains("nothing was changed"), "{said}");
    assert!(
        world.core().join(".hpm/journal/journal.json").exists(),
        "the journal survives"
    );
    Ok(())
}

/// Medium 7: when bookkeeping after the commit failed, hpm said "nothing
/// was changed" while the files and the environment were in the new mode.
#[test]
fn a_sync_that_cannot_record_itself_says_the_files_are_in_the_new_mode() -> anyhow::Result<()> {
    let world = synced()?;
    let uv = hpm_engine::uv::Uv::find()?.path;
    let breaking = fake_uv(
        world.root(),
        "0.9.0",
        &format!(
            "{} \"$@\" && rm -rf .hpm/locks && touch .hpm/locks",
            uv.display()
        ),
    )?;
    let output = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &breaking)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let said = stderr(&output);
    assert!(said.contains("the sync to prod mode succeeded"), "{said}");
    assert!(said.contains("could not record it"), "{said}");
    assert!(world.read("pyproject.toml")?.contains("tag = \"v1.0.0\""));
    std::fs::remove_file(world.core().join(".hpm/locks"))?;
    let report = json(&world.ok(&["--no-daemon", "sync", "--json"])?)?;
    assert_eq!(
        report["outcome"], "synced",
        "the next sync runs uv again: {report}"
    );
    Ok(())
}

/// Low: a closed stdout panicked with exit 101 (`hpmctl completions bash |
/// head -1`); `hpmctl events` ended silently, exit 0, when the daemon went.
#[test]
fn a_closed_stdout_is_success_and_a_vanished_daemon_is_said() -> anyhow::Result<()> {
    let world = World::new()?;
    let mut completions = world
        .hpmctl()
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Read nothing and close the pipe: hpmctl's writes meet a closed pipe.
    drop(completions.stdout.take());
    let output = completions.wait_with_output()?;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        !stderr(&output).contains("panicked"),
        "{}",
        describe(&output)
    );

    let world = synced()?;
    let mut events = world
        .hpmctl()
        .args(["events", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let reader = {
        use std::io::BufRead;
        let out = events
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let lines = lines.clone();
        std::thread::spawn(move || {
            for _ in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(mut lines) = lines.lock() {
                    *lines += 1;
                }
            }
        })
    };
    // The subscription is live once a sync's events arrive on it.
    wait_for("the event subscription", || {
        let _ = world.run(&["sync"]);
        lines.lock().is_ok_and(|lines| *lines > 0)
    })?;
    world.ok(&["daemon", "stop"])?;
    let output = events.wait_with_output()?;
    let _ = reader.join();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("hpmd closed the event stream"),
        "{}",
        describe(&output)
    );
    Ok(())
}

/// Low: a managed dependency's marker and extras vanished silently; what
/// cannot combine with hpm's entry (a version) is now said. The user's
/// spelling of the name (`Plugin_B`) stays.
#[test]
fn a_managed_entrys_marker_stays_and_a_dropped_version_is_said() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    let pyproject = world.read("pyproject.toml")?.replace(
        "    # plugins are added by hpm below\n",
        "    # plugins are added by hpm below\n    \"plugin-a; python_version >= '3'\",\n    \"Plugin_B>=0.5\",\n",
    );
    std::fs::write(world.core().join("pyproject.toml"), &pyproject)?;
    let report = json(&world.ok(&["--no-daemon", "sync", "--json"])?)?;
    let written = world.read("pyproject.toml")?;
    assert!(
        written.contains("\"plugin-a; python_version >= '3'\""),
        "{written}"
    );
    assert!(written.contains("\"Plugin_B\","), "{written}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("Plugin_B>=0.5") && warnings.contains("the version `>=0.5` was dropped"),
        "{report:#}"
    );
    assert!(
        !warnings.contains("plugin-a;"),
        "nothing of plugin-a was dropped: {report:#}"
    );
    Ok(())
}

/// Low: removing a package from the manifest deleted the source that a
/// dependency group still used, and uv then failed.
#[test]
fn a_source_a_dependency_group_still_uses_outlives_the_package() -> anyhow::Result<()> {
    let world = synced()?;
    let pyproject = world.read("pyproject.toml")?;
    std::fs::write(
        world.core().join("pyproject.toml"),
        format!("{pyproject}\n[dependency-groups]\ntest = [\"plugin-b\"]\n"),
    )?;
    world.write_manifest(
        "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a]\n",
    )?;
    let report = json(&world.ok(&["--no-daemon", "sync", "--json"])?)?;
    let written = world.read("pyproject.toml")?;
    let sources = &written[written.find("[tool.uv.sources]").unwrap_or(0)..];
    assert!(sources.contains("plugin-b = "), "{written}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("kept `plugin-b`") && warnings.contains("[dependency-groups] `test`"),
        "{report:#}"
    );
    Ok(())
}

/// Low: a key given twice in `hpm.yaml` was taken silently (the last won),
/// and a duplicate `mode:` was reported at 1:1.
#[test]
fn a_key_given_twice_in_hpm_yaml_is_refused_naming_both_lines() -> anyhow::Result<()> {
    let world = synced()?;
    let pyproject = world.bytes("pyproject.toml");
    world.write_manifest(
        "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a]\nmode: prod\n",
    )?;
    let output = world.run(&["--no-daemon", "sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let said = stderr(&output);
    assert!(
        said.contains("hpm.yaml`:5:1")
            && said.contains("`mode` is given twice")
            && said.contains("lines 2 and 5"),
        "{said}"
    );
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    Ok(())
}
