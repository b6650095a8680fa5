//! What CI runs: `hpmctl check` for each mode without switching (`--mode`,
//! `RUN_MODE`, `--all-modes`), in every mode.

use hpm_tests::{describe, git, stderr, stdout, World};
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

/// The folder of this checkout (the hook file and the action live there).
fn checkout() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `PATH` with the built `hpmctl` first, as an installed one would be.
fn path_with_hpmctl() -> String {
    let bin = hpm_tests::hpmctl_path();
    let dir = bin.parent().unwrap_or(&bin).display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// A core in git whose `hpm.yaml` says prod, committed in prod.
fn committed_core() -> anyhow::Result<World> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a]\n",
    )?;
    world.ok(&["--no-daemon", "sync"])?;
    let core = world.core();
    std::fs::write(core.join(".gitignore"), ".venv/\n.hpm/\npackages/\n")?;
    git(&core, &["init", "-q", "-b", "main"])?;
    git(&core, &["add", "-A"])?;
    git(&core, &["commit", "-q", "-m", "the core, in prod"])?;
    Ok(world)
}

/// The pre-commit framework's real `pre-commit` (from PyPI, in a venv of
/// the test's own) runs this checkout's `.pre-commit-hooks.yaml`: a commit
/// that stages a dev-mode `pyproject.toml` is refused; the prod one passes.
#[test]
fn the_pre_commit_hook_refuses_a_dev_mode_pyproject() -> anyhow::Result<()> {
    let world = committed_core()?;
    let core = world.core();
    let uv = hpm_engine::uv::Uv::find()?.path;
    let venv = world.root().join("pre-commit-venv");
    for args in [
        vec!["venv", "-q", &*venv.to_string_lossy()],
        vec![
            "pip",
            "install",
            "-q",
            "--python",
            &*venv.join("bin/python").to_string_lossy(),
            "pre-commit",
        ],
    ] {
        let output = std::process::Command::new(&uv)
            .args(&args)
            .env("UV_PYTHON_DOWNLOADS", "never")
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "uv {args:?}: {}",
            describe(&output)
        );
    }
    // The hook repository: this checkout's hook file, committed.
    let hooks = world.root().join("hooks");
    std::fs::create_dir_all(&hooks)?;
    std::fs::copy(
        checkout().join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )?;
    git(&hooks, &["init", "-q", "-b", "main"])?;
    git(&hooks, &["add", "-A"])?;
    git(&hooks, &["commit", "-q", "-m", "hooks"])?;
    let rev = String::from_utf8(
        std::process::Command::new("git")
            .current_dir(&hooks)
            .args(["rev-parse", "HEAD"])
            .output()?
            .stdout,
    )?;
    std::fs::write(
        core.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: hpm-check-staged\n",
            hooks.display(),
            rev.trim()
        ),
    )?;
    git(&core, &["add", ".pre-commit-config.yaml"])?;
    git(&core, &["commit", "-q", "-m", "pre-commit"])?;
    let pre_commit = venv.join("bin/pre-commit");
    let in_core =
        |program: &std::path::Path, args: &[&str]| -> anyhow::Result<std::process::Output> {
            Ok(std::process::Command::new(program)
                .current_dir(&core)
                .args(args)
                .env("PATH", path_with_hpmctl())
                .env("PRE_COMMIT_HOME", world.root().join("pre-commit-home"))
                .env("HPM_NO_DAEMON", "1")
                .env("HPM_CACHE_DIR", world.root().join("cache"))
                .env("UV_PYTHON_DOWNLOADS", "never")
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@hpm.invalid")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@hpm.invalid")
                .env_remove("RUN_MODE")
                .output()?)
        };
    let installed = in_core(&pre_commit, &["install"])?;
    anyhow::ensure!(installed.status.success(), "{}", describe(&installed));

    // Working in dev, the developer stages the dev-mode files: refused.
    world.ok(&["--no-daemon", "switch", "dev"])?;
    git(&core, &["add", "pyproject.toml", "uv.lock"])?;
    let head = std::fs::read_to_string(core.join(".git/refs/heads/main"))?;
    let refused = in_core(
        std::path::Path::new("git"),
        &["commit", "-m", "oops, dev paths"],
    )?;
    assert!(!refused.status.success(), "{}", describe(&refused));
    let said = format!("{}{}", stdout(&refused), stderr(&refused));
    assert!(
        said.contains(
            "the `pyproject.toml` staged for commit is not what hpm writes for prod mode"
        ) && said.contains("hpmctl switch prod"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(core.join(".git/refs/heads/main"))?,
        head
    );

    // Back in prod, the same files pass.
    world.ok(&["--no-daemon", "switch", "prod"])?;
    git(&core, &["add", "pyproject.toml", "uv.lock"])?;
    let passed = in_core(&pre_commit, &["run", "--all-files"])?;
    assert!(passed.status.success(), "{}", describe(&passed));
    Ok(())
}

/// The GitHub action's script, run as a runner would run it (with
/// `hpmctl` installed on PATH): every mode checked; a broken mode fails
/// the step.
#[test]
fn the_github_action_checks_every_mode() -> anyhow::Result<()> {
    let world = committed_core()?;
    let script = checkout().join("contrib/github-action/check");
    let run = || -> anyhow::Result<std::process::Output> {
        Ok(std::process::Command::new(&script)
            .env("PATH", path_with_hpmctl())
            .env("HPM_CHECK_DIR", world.core())
            .env("HPM_CHECK_ARGS", "--all-modes")
            .env("HPM_CACHE_DIR", world.root().join("cache"))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env_remove("RUN_MODE")
            .output()?)
    };
    let passed = run()?;
    assert!(passed.status.success(), "{}", describe(&passed));
    for mode in ["prod", "staging", "dev"] {
        assert!(
            stdout(&passed).contains(&format!("({mode} mode)")),
            "{}",
            describe(&passed)
        );
    }
    let url = world.remote_url("plugin-a");
    world.write_registry_entry(
        "plugin-a",
        &format!(
            "name: plugin-a\nsources:\n  dev: {{ type: local, path: ./packages/plugin-a, editable: true }}\n  staging: {{ type: git, url: \"{url}\", tag: v7.0.0 }}\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"
        ),
    )?;
    let failed = run()?;
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    assert!(
        stderr(&failed).contains("staging mode: resolve:") && stderr(&failed).contains("v7.0.0"),
        "{}",
        describe(&failed)
    );
    Ok(())
}

/// Regression: a failed uv printed its error twice on a terminal: once as
/// uv streamed it, once more in hpm's error. The terminal now gets it once
/// (hpm's error points up at it); `--json` keeps uv's words in the error,
/// in-process and through the daemon alike.
#[test]
fn a_failed_uv_is_told_once_on_a_terminal_and_whole_in_json() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let manifest = world.read("hpm.yaml")?;
    world.write_manifest(&format!(
        "{manifest}settings:\n  uv_args: [\"--extra\", \"no-such-extra\"]\n"
    ))?;
    let uv_says = "Extra `no-such-extra` is not defined";
    for daemon in [false, true] {
        let args: &[&str] = match daemon {
            false => &["--no-daemon", "sync", "--force"],
            true => &["sync", "--force"],
        };
        let failed = world.run(args);
        assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
        let said = stderr(&failed);
        assert_eq!(said.matches(uv_says).count(), 1, "{said}");
        assert!(said.contains("(uv's words are above)"), "{said}");

        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(args);
        let failed = world.run(&json_args);
        let error = json(&failed)?;
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains(uv_says)),
            "{}",
            describe(&failed)
        );
    }
    world.ok(&["daemon", "stop"])?;
    Ok(())
}
