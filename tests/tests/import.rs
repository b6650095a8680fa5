//! `hpmctl import` on a product in the seeds' layout, built for real
//! ([`hpm_tests::submodules::product`]).

use std::process::Command;

use hpm_tests::submodules::{product, snapshot};
use hpm_tests::{describe, git, git_output, module_name, stderr, stdout, Release, World};

#[test]
fn an_imported_submodule_product_keeps_every_commit_and_installs_what_its_files_pinned(
) -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    let interface = core.join("packages/model-interface");
    let qwen = core.join("packages/model-qwen2-5-vl");
    let core_before = world.read("pyproject.toml")?;

    let dry = world.ok(&[
        "--no-daemon",
        "import",
        "--dry-run",
        "--uv-arg=--no-progress",
    ])?;
    assert!(stdout(&dry).contains("would write"), "{}", describe(&dry));
    assert!(!core.join("hpm.yaml").exists() && !core.join("hpm-registry").exists());
    assert_eq!(world.read("pyproject.toml")?, core_before);

    let imported = world.ok(&[
        "--no-daemon",
        "import",
        "--detach-submodules",
        "--uv-arg=--no-progress",
    ])?;
    let said = stdout(&imported);
    assert!(
        said.contains("found model-qwen2-5-vl in packages/model-qwen2-5-vl (submodule"),
        "{said}"
    );
    assert!(
        said.contains("`model_qwen2.5-vl` there is `model-qwen2-5-vl`"),
        "{said}"
    );
    let manifest = world.read("hpm.yaml")?;
    assert!(
        manifest.contains("packages: [model-interface, model-qwen2-5-vl]"),
        "{manifest}"
    );
    assert!(
        manifest.contains("uv_args: [\"--no-progress\"]"),
        "{manifest}"
    );
    let entry = world.read("hpm-registry/model-interface.yaml")?;
    assert!(
        entry.contains("dev: { type: local")
            && entry.contains("tag: \"v0.2.0.dev0\"")
            && entry.contains("tag: \"v0.1.0\""),
        "{entry}"
    );
    let pyproject = world.read("pyproject.toml")?;
    assert!(
        pyproject.starts_with("# the core, hand-written\n"),
        "{pyproject}"
    );
    assert!(!pyproject.contains("workspace"), "{pyproject}");
    assert!(
        pyproject.contains("[tool.hatch.build.targets.wheel]"),
        "{pyproject}"
    );

    // Detached: each clone holds its own git folder; the core's index shows
    // exactly the submodule removals; nothing of the clones is lost.
    assert!(interface.join(".git").is_dir() && qwen.join(".git").is_dir());
    assert!(!core.join(".git/modules/packages/model-interface").exists());
    let staged = git_output(&core, &["diff", "--cached", "--name-status"])?;
    let mut staged: Vec<&str> = staged.lines().collect();
    staged.sort();
    assert_eq!(
        staged,
        [
            "D\t.gitmodules",
            "D\tpackages/model-interface",
            "D\tpackages/model-qwen2-5-vl"
        ]
    );
    // The clones are kept out of the core's git (its own `info/exclude`):
    // its status shows only what the user should commit.
    let status = git_output(&core, &["status", "--porcelain", "--untracked-files=all"])?;
    assert!(
        !status
            .lines()
            .any(|line| line.contains("packages/model-") && !line.starts_with("D ")),
        "{status}"
    );
    let exclude = std::fs::read_to_string(core.join(".git/info/exclude"))?;
    assert!(
        exclude.contains("/packages/model-interface/\n/packages/model-qwen2-5-vl/\n"),
        "{exclude}"
    );
    let dirty = git_output(&interface, &["status", "--porcelain"])?;
    assert!(
        dirty.contains(" M ") && dirty.contains("?? wip.txt"),
        "{dirty}"
    );
    assert_eq!(
        git_output(&qwen, &["log", "-1", "--format=%s"])?.trim(),
        "local work"
    );
    assert_eq!(git_output(&qwen, &["status", "--porcelain"])?, "");

    // Importing again says so and changes nothing.
    let again = world.run(&["--no-daemon", "import"]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(
        stderr(&again).contains("imported already"),
        "{}",
        describe(&again)
    );

    // dev: the clones as they are, edits live.
    world.ok(&["--no-daemon", "sync"])?;
    world.ok(&["--no-daemon", "check"])?;
    let edited = Command::new(core.join(".venv/bin/python"))
        .args([
            "-c",
            "import model_interface; print(model_interface.EDITED)",
        ])
        .output()?;
    assert_eq!(stdout(&edited).trim(), "True", "{}", describe(&edited));

    // staging and prod: what the old files pinned; prod checked against the
    // old prod file's own frozen install.
    world.ok(&["--no-daemon", "switch", "staging"])?;
    world.ok(&["--no-daemon", "check"])?;
    assert_eq!(world.imported_version("model-interface")?, "0.2.0.dev0");
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&["--no-daemon", "check"])?;
    let uv = hpm_engine::uv::Uv::find()?.path;
    let reference = Command::new(&uv)
        .args(["sync", "--frozen", "--project", "prod"])
        .current_dir(&core)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("VIRTUAL_ENV")
        .output()?;
    assert!(reference.status.success(), "{}", describe(&reference));
    for package in ["model-interface", "model-qwen2-5-vl"] {
        let module = module_name(package);
        let old = Command::new(core.join("prod/.venv/bin/python"))
            .args(["-c", &format!("import {module}; print({module}.VERSION)")])
            .output()?;
        assert_eq!(
            world.imported_version(package)?,
            stdout(&old).trim(),
            "{package}"
        );
    }
    // Still every change of the user's in the clones.
    let dirty = git_output(&interface, &["status", "--porcelain"])?;
    assert!(dirty.contains("?? wip.txt"), "{dirty}");
    assert_eq!(
        git_output(&qwen, &["log", "-1", "--format=%s"])?.trim(),
        "local work"
    );
    Ok(())
}

#[test]
fn a_failed_detach_leaves_every_submodule_as_it_was() -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    let interface = core.join("packages/model-interface");
    git(&interface, &["stash", "-q", "-u"])?;
    let before = snapshot(&world)?;
    let detach = ["--no-daemon", "import", "--detach-submodules"];

    // The second submodule's git folder is away: the first, detached
    // already, is put back.
    let modules = core.join(".git/modules/packages");
    std::fs::rename(
        modules.join("model-qwen2-5-vl"),
        modules.join("model-qwen2-5-vl.away"),
    )?;
    let failed = world.run(&detach);
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    let said = stderr(&failed);
    assert!(
        said.contains("detaching the submodules failed")
            && said.contains("model-qwen2-5-vl")
            && said.contains("every submodule is as it was"),
        "{said}"
    );
    std::fs::rename(
        modules.join("model-qwen2-5-vl.away"),
        modules.join("model-qwen2-5-vl"),
    )?;
    assert!(modules.join("model-interface").is_dir());
    assert_eq!(snapshot(&world)?, before);
    assert!(!core.join("hpm.yaml").exists());

    // Writing hpm's files fails after both were detached: both are put back
    // and no file of hpm's stays.
    std::fs::write(core.join("hpm-registry"), "in the way\n")?;
    let failed = world.run(&detach);
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    assert!(
        stderr(&failed).contains("hpm-registry"),
        "{}",
        describe(&failed)
    );
    std::fs::remove_file(core.join("hpm-registry"))?;
    assert_eq!(snapshot(&world)?, before);
    assert!(!core.join("hpm.yaml").exists());

    // And with nothing in the way, both are detached, the stash kept.
    world.ok(&detach)?;
    assert!(interface.join(".git").is_dir());
    assert_eq!(
        git_output(&interface, &["stash", "list"])?.lines().count(),
        1
    );
    Ok(())
}

/// Import ends with the first sync of the mode it leaves, so that `check`
/// (its "next:" line) passes on what it wrote. Regression: `check` right
/// after import failed ("pyproject.toml does not match the plan"). A
/// first sync that fails undoes the whole import: the submodules, the
/// core's pyproject, and no file or folder of hpm's left.
#[test]
fn import_syncs_so_check_passes_and_a_failed_first_sync_undoes_it() -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    let pyproject = world.read("pyproject.toml")?;
    let before = snapshot(&world)?;

    let failed = world.run(&[
        "--no-daemon",
        "import",
        "--detach-submodules",
        "--uv-arg=--extra",
        "--uv-arg=no-such-extra",
    ]);
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    let said = stderr(&failed);
    assert!(
        said.contains("first sync failed, so the import was undone")
            && said.contains("no-such-extra")
            && said.contains("--no-sync"),
        "{}",
        describe(&failed)
    );
    assert_eq!(snapshot(&world)?, before);
    assert_eq!(world.read("pyproject.toml")?, pyproject);
    for left in ["hpm.yaml", "hpm-registry", ".hpm", "uv.lock"] {
        assert!(!core.join(left).exists(), "{left} was left behind");
    }

    let imported = world.ok(&[
        "--no-daemon",
        "import",
        "--detach-submodules",
        "--uv-arg=--no-progress",
    ])?;
    assert!(
        stdout(&imported).contains("next: `hpmctl check`"),
        "{}",
        describe(&imported)
    );
    world.ok(&["--no-daemon", "check"])?;
    Ok(())
}

/// An import killed in its first sync (its uv hanging) is put back whole
/// by the next hpm command: the dry run refuses to read the half-written
/// files, `sync` puts back every file and submodule and says to import
/// again, and the import then runs as if the first had never started.
#[test]
fn an_import_killed_in_its_first_sync_is_put_back_by_the_next_command() -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    let before = snapshot(&world)?;
    let pyproject = world.read("pyproject.toml")?;
    let real = hpm_engine::uv::Uv::find()?.path;
    let pid_file = world.root().join("uv.pid");
    let uv = hpm_tests::fake_uv(
        world.root(),
        "0.9.0",
        &format!(
            "case \" $* \" in *\" sync \"*) echo $$ > {pid}.part && mv {pid}.part {pid}; exec sleep 60;; esac\nexec {real} \"$@\"",
            pid = pid_file.display(),
            real = real.display()
        ),
    )?;
    let mut import = world
        .hpmctl()
        .args(["--no-daemon", "import", "--detach-submodules"])
        .env("HPM_UV", &uv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    hpm_tests::wait_for("the import's first sync to run uv", || pid_file.exists())?;
    import.kill()?;
    import.wait()?;
    assert!(core.join("hpm.yaml").is_file() && core.join("packages/model-interface/.git").is_dir());

    let dry = world.run(&["--no-daemon", "import", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "{}", describe(&dry));
    assert!(
        stderr(&dry).contains("was interrupted"),
        "{}",
        describe(&dry)
    );
    assert!(
        core.join("hpm.yaml").is_file(),
        "the dry run changed something"
    );

    let synced = world.run(&["--no-daemon", "sync"]);
    assert_eq!(synced.status.code(), Some(1), "{}", describe(&synced));
    let said = stderr(&synced);
    assert!(
        said.contains("an earlier hpm command was interrupted; put back")
            && said.contains("an import here was interrupted")
            && said.contains("run `hpmctl import`"),
        "{}",
        describe(&synced)
    );
    assert_eq!(snapshot(&world)?, before);
    assert_eq!(world.read("pyproject.toml")?, pyproject);
    for left in ["hpm.yaml", "hpm-registry", "uv.lock"] {
        assert!(!core.join(left).exists(), "{left} was left behind");
    }
    // Stopped by the sync that put the import back (it is gone once the
    // kernel has reaped it).
    let uv_pid: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    hpm_tests::wait_for("the killed import's uv to be stopped", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(uv_pid), None).is_err()
    })?;

    world.ok(&[
        "--no-daemon",
        "import",
        "--detach-submodules",
        "--uv-arg=--no-progress",
    ])?;
    world.ok(&["--no-daemon", "check"])?;
    Ok(())
}

/// `--no-sync` writes the files only, and its next step says to sync first.
#[test]
fn import_without_a_sync_writes_the_files_and_says_to_sync_first() -> anyhow::Result<()> {
    let world = product()?;
    let imported = world.ok(&["--no-daemon", "import", "--no-sync"])?;
    assert!(
        stdout(&imported).contains("next: `hpmctl sync`, then `hpmctl check`"),
        "{}",
        describe(&imported)
    );
    assert!(world.core().join("hpm.yaml").is_file());
    assert!(world.bytes("uv.lock").is_none(), "uv ran");
    Ok(())
}

/// `hpmctl dev` cloning a package into a core kept in git: the clone is a
/// repository of its own, kept out of the core's git (`?? packages/` and
/// `git add -A` embedding it were the regression).
#[test]
fn a_dev_clone_is_kept_out_of_the_cores_git() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin("plugin-a", &[Release::new("v1.0.0", "1.0.0")])?;
    let url = world.remote_url("plugin-a");
    world.write_registry_entry(
        "plugin-a",
        &format!("name: plugin-a\nrepo: \"{url}\"\nsources:\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"),
    )?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a]\n",
    )?;
    world.ok(&["--no-daemon", "sync"])?;
    let core = world.core();
    std::fs::write(core.join(".gitignore"), ".venv/\n.hpm/\n")?;
    git(&core, &["init", "-q", "-b", "main"])?;
    git(&core, &["add", "-A"])?;
    git(&core, &["commit", "-q", "-m", "core"])?;

    world.ok(&["--no-daemon", "dev", "plugin-a", "--yes"])?;
    assert!(core.join("packages/plugin-a/.git").is_dir());
    let status = git_output(&core, &["status", "--porcelain", "--untracked-files=all"])?;
    let mut lines: Vec<&str> = status.lines().collect();
    lines.sort();
    assert_eq!(lines, [" M pyproject.toml", " M uv.lock"], "{status}");
    assert_eq!(
        std::fs::read_to_string(core.join(".gitignore"))?,
        ".venv/\n.hpm/\n",
        "the user's .gitignore was changed"
    );
    Ok(())
}

/// Regression: detaching as a second step was refused ("imported
/// already"), and `--dry-run import --detach-submodules` printed what a
/// plain dry run prints. The dry run now lists each submodule it would
/// detach and changes nothing; the detach on an imported workspace changes
/// only the submodules.
#[test]
fn detach_works_as_a_second_step_and_its_dry_run_says_what_it_would_do() -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    world.ok(&["--no-daemon", "import", "--uv-arg=--no-progress"])?;
    let hpm_files = (
        world.read("hpm.yaml")?,
        world.read("pyproject.toml")?,
        world.read("hpm-registry/model-interface.yaml")?,
    );
    let before = snapshot(&world)?;

    let dry = world.ok(&["--no-daemon", "--dry-run", "import", "--detach-submodules"])?;
    let said = stdout(&dry);
    for name in ["model-interface", "model-qwen2-5-vl"] {
        assert!(
            said.contains(&format!(
                "would detach packages/{name}: its git folder moves"
            )),
            "{said}"
        );
    }
    assert!(
        said.contains("stay as they are") && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(snapshot(&world)?, before, "the dry run changed something");

    let detached = world.ok(&["--no-daemon", "import", "--detach-submodules"])?;
    assert!(
        stdout(&detached).contains("detached packages/model-interface"),
        "{}",
        describe(&detached)
    );
    assert!(core.join("packages/model-interface/.git").is_dir());
    let status = git_output(&core, &["status", "--porcelain", "--untracked-files=all"])?;
    assert!(
        !status.lines().any(|line| line.starts_with("?? packages/")),
        "{status}"
    );
    assert_eq!(
        (
            world.read("hpm.yaml")?,
            world.read("pyproject.toml")?,
            world.read("hpm-registry/model-interface.yaml")?,
        ),
        hpm_files
    );
    // Nothing left to detach: said so.
    let again = world.run(&["--no-daemon", "import", "--detach-submodules"]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(
        stderr(&again).contains("no submodule left to detach"),
        "{}",
        describe(&again)
    );
    Ok(())
}

/// Regression: a teammate's fresh `dev` clone checked out the remote's
/// default branch, not the one the submodule was on. Import records it
/// (`.gitmodules` `branch =`, else the branch the clone is on) as the
/// entry's `branch`, and `hpmctl dev` clones it.
#[test]
fn a_fresh_dev_clone_checks_out_the_branch_the_submodule_was_on() -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    let interface = core.join("packages/model-interface");
    git(&interface, &["checkout", "-q", "-b", "dev_branch"])?;
    std::fs::write(interface.join("DEV.md"), "the dev branch\n")?;
    git(&interface, &["add", "DEV.md"])?;
    git(&interface, &["commit", "-q", "-m", "on the dev branch"])?;
    git(&interface, &["push", "-q", "origin", "dev_branch"])?;

    world.ok(&[
        "--no-daemon",
        "import",
        "--detach-submodules",
        "--uv-arg=--no-progress",
    ])?;
    let entry = world.read("hpm-registry/model-interface.yaml")?;
    assert!(entry.contains("branch: \"dev_branch\""), "{entry}");

    // The teammate has no clone yet: `dev` makes one, on that branch.
    std::fs::rename(&interface, world.root().join("interface-away"))?;
    world.ok(&["--no-daemon", "dev", "model-interface", "--yes"])?;
    assert_eq!(
        git_output(&interface, &["rev-parse", "--abbrev-ref", "HEAD"])?.trim(),
        "dev_branch"
    );
    assert!(interface.join("DEV.md").is_file());
    Ok(())
}

/// Regression: a tool the core installs by path in a dependency group
/// (`release-tool = { path = "release_tool" }`, itself a submodule) lost
/// its source on import, and uv took an unrelated `release-tool` from an
/// index. It stays the user's source; `check` passes after import, and
/// every mode installs the tool from its folder.
#[test]
fn a_path_installed_tool_keeps_its_source_through_import_and_every_mode() -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    world.add_plugin("release-tool", &[Release::new("v0.3.0", "0.3.0")])?;
    git(
        &core,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            &world.remote_url("release-tool"),
            "release_tool",
        ],
    )?;
    let pyproject = world.read("pyproject.toml")?.replace(
        "[tool.uv.sources]\n",
        "[dependency-groups]\ndev = [\"release-tool\"]\n\n[tool.uv.sources]\nrelease-tool = { path = \"release_tool\" }\n",
    );
    std::fs::write(core.join("pyproject.toml"), &pyproject)?;
    git(&core, &["add", "-A"])?;
    git(&core, &["commit", "-q", "-m", "the release tool"])?;

    world.ok(&["--no-daemon", "import", "--uv-arg=--no-progress"])?;
    let imported = world.read("pyproject.toml")?;
    assert!(
        imported.contains("release-tool = { path = \"release_tool\" }"),
        "{imported}"
    );
    world.ok(&["--no-daemon", "sync"])?;
    world.ok(&["--no-daemon", "check"])?;
    for mode in ["staging", "prod"] {
        world.ok(&["--no-daemon", "switch", mode])?;
        world.ok(&["--no-daemon", "check"])?;
        let lock = world.read("uv.lock")?;
        let tool = lock
            .split("[[package]]")
            .find(|block| block.contains("name = \"release-tool\""))
            .unwrap_or_default();
        assert!(
            tool.contains("directory = \"release_tool\"")
                || tool.contains("editable = \"release_tool\""),
            "{mode}: release-tool is not from its folder:\n{tool}"
        );
    }
    Ok(())
}

/// Regression: a `.gitmodules` entry whose path leaves the workspace made
/// `import --detach-submodules` detach nothing, exit 0 and report the
/// packages as clones. The whole import is refused, naming the entry;
/// nothing changes.
#[test]
fn a_submodule_path_outside_the_workspace_refuses_the_import() -> anyhow::Result<()> {
    let world = product()?;
    let core = world.core();
    let outside = world.root().join("outside");
    std::fs::create_dir_all(&outside)?;
    std::fs::write(
        outside.join("pyproject.toml"),
        "[project]\nname = \"outsider\"\nversion = \"1.0.0\"\n",
    )?;
    let mut modules = std::fs::read_to_string(core.join(".gitmodules"))?;
    modules.push_str(
        "[submodule \"outsider\"]\n\tpath = ../outside\n\turl = file:///nowhere/outsider.git\n",
    );
    std::fs::write(core.join(".gitmodules"), modules)?;
    let before = snapshot(&world)?;
    for args in [
        &["--no-daemon", "import", "--detach-submodules"][..],
        &["--no-daemon", "--dry-run", "import", "--detach-submodules"][..],
    ] {
        let refused = world.run(args);
        assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
        assert!(
            stderr(&refused).contains("has the path `../outside`, outside the workspace")
                && stderr(&refused).contains(".gitmodules"),
            "{}",
            describe(&refused)
        );
        assert_eq!(snapshot(&world)?, before);
        assert!(!core.join("hpm.yaml").exists());
    }
    Ok(())
}
