//! `hpmctl release`: multi-repo releases run for real. Plugin repositories
//! with bare `file://` remotes, a core repository with its own remote, a
//! registry folder (or a git registry), the real `git` and `uv`, and a fake
//! forge (GitHub's releases API on a local port, recording every call)
//! standing in for GitHub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use hpm_tests::forge::{Fault, TOKEN};
use hpm_tests::release::{ReleaseWorld, GITHUB};
use hpm_tests::{describe, git, stderr, stdout, World};
use serde_json::Value;

/// The usual fixture: `alpha`, and `beta` which depends on it.
fn fixture() -> Result<ReleaseWorld> {
    ReleaseWorld::new(&[("alpha", &[]), ("beta", &["alpha"])], GITHUB)
}

/// Every file under the world (contents, modes and symlinks), for "changed
/// nothing" checks; `.hpm/releases` is left out unless `with_releases`.
fn snapshot(fixture: &ReleaseWorld, with_releases: bool) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let releases = fixture.world.core().join(".hpm/releases");
    walk(fixture.world.root(), &mut |path| {
        if !with_releases && path.starts_with(&releases) {
            return Ok(());
        }
        let meta = std::fs::symlink_metadata(path)?;
        let value = if meta.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(path)?.display())
        } else {
            use std::os::unix::fs::PermissionsExt;
            let bytes = std::fs::read(path)?;
            format!(
                "{:o} {}",
                meta.permissions().mode(),
                hpm_core::fingerprint::sha256_hex(&bytes)
            )
        };
        files.insert(path.display().to_string(), value);
        Ok(())
    })?;
    Ok(files)
}

fn walk(dir: &Path, each: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            walk(&path, each)?;
        } else {
            each(&path)?;
        }
    }
    Ok(())
}

/// `git ARGS` in `dir`, its stdout.
fn git_out(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git").current_dir(dir).args(args).output()?;
    ensure!(
        output.status.success(),
        "git {} in {}:\n{}",
        args.join(" "),
        dir.display(),
        describe(&output)
    );
    Ok(stdout(&output))
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut changed = Vec::new();
    for (path, value) in before {
        match after.get(path) {
            None => changed.push(format!("removed {path}")),
            Some(v) if v != value => changed.push(format!("changed {path}")),
            _ => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        changed.push(format!("added {path}"));
    }
    changed
}

/// The plan's package entries by name.
fn planned(fixture: &ReleaseWorld, id: &str) -> Result<BTreeMap<String, Value>> {
    let plan: Value = serde_json::from_str(
        &fixture
            .world
            .read(&format!(".hpm/releases/{id}/plan.json"))?,
    )?;
    Ok(plan["packages"]
        .as_array()
        .context("packages")?
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p.clone(),
            )
        })
        .collect())
}

/// The version the core's venv has installed for `package`.
fn installed_version(world: &World, package: &str) -> Result<String> {
    let output = Command::new(world.core().join(".venv/bin/python"))
        .args([
            "-c",
            &format!("import importlib.metadata as m; print(m.version('{package}'))"),
        ])
        .output()?;
    ensure!(output.status.success(), "{}", describe(&output));
    Ok(stdout(&output).trim().to_string())
}

#[test]
fn a_staging_release_tags_pushes_publishes_and_moves_the_registry_in_dependency_order() -> Result<()>
{
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging", "--with-core"])?;
    let packages = planned(&fixture, &id)?;
    assert_eq!(packages["alpha"]["version"], "1.1.0.dev1");
    assert_eq!(packages["alpha"]["tag"], "v1.1.0.dev1");
    assert_eq!(packages["alpha"]["previous_tag"], "v1.1.0.dev0");
    assert_eq!(packages["beta"]["version"], "1.1.0.dev1");
    // beta depends on alpha: a layer after it; the core last.
    assert_eq!(packages["alpha"]["layer"], 0);
    assert_eq!(packages["beta"]["layer"], 1);
    assert_eq!(packages["core-app"]["layer"], 2);
    let core_tag = packages["core-app"]["tag"]
        .as_str()
        .context("core tag")?
        .to_string();

    let (output, report) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(report["outcome"], "complete", "{report}");

    for name in ["alpha", "beta"] {
        let remote = fixture.remote(name);
        // An annotated tag whose Markdown headings survived git's cleanup.
        assert_eq!(
            git_out(&remote, &["cat-file", "-t", "v1.1.0.dev1"])?.trim(),
            "tag"
        );
        let message = git_out(
            &remote,
            &["tag", "-l", "--format=%(contents)", "v1.1.0.dev1"],
        )?;
        assert!(
            message.starts_with(&format!("# {name} 1.1.0.dev1\n")),
            "{message}"
        );
        assert!(message.contains("## Features"), "{message}");
        assert!(
            message.contains(&format!("{name} learns its name")),
            "{message}"
        );
        // The release commit: only the version file, with the trailer, on main.
        let files = git_out(
            &remote,
            &["show", "--name-only", "--format=", "v1.1.0.dev1^{commit}"],
        )?;
        assert_eq!(files.trim(), "pyproject.toml");
        let body = git_out(
            &remote,
            &["log", "-1", "--format=%B", "v1.1.0.dev1^{commit}"],
        )?;
        assert!(body.contains(&format!("Hpm-Release-Id: {id}")), "{body}");
        assert_eq!(
            git_out(&remote, &["rev-parse", "main"])?,
            git_out(&remote, &["rev-parse", "v1.1.0.dev1^{commit}"])?
        );
        let pyproject = git_out(&remote, &["show", "v1.1.0.dev1:pyproject.toml"])?;
        assert!(
            pyproject.contains("version = \"1.1.0.dev1\""),
            "{pyproject}"
        );
        // One published prerelease on the forge.
        let releases = fixture.forge.releases(&format!("remotes/{name}"));
        assert_eq!(releases.len(), 1, "{releases:?}");
        assert_eq!(releases[0]["tag_name"], "v1.1.0.dev1");
        assert_eq!(releases[0]["draft"], false);
        assert_eq!(releases[0]["prerelease"], true);
        // The registry's staging source moved to the new tag, its comment kept.
        let entry = fixture.world.read(&format!("hpm-registry/{name}.yaml"))?;
        assert!(
            entry.starts_with(&format!("# {name}: kept by hand\n")),
            "{entry}"
        );
        assert!(entry.contains("ref: v1.1.0.dev1"), "{entry}");
        assert!(entry.contains("ref: v1.0.0"), "prod stays: {entry}");
    }
    // The core: its registry files in its release commit, its notes with
    // every package's version and commit.
    let core_remote = fixture.remote("core-app");
    let files = git_out(
        &core_remote,
        &[
            "show",
            "--name-only",
            "--format=",
            &format!("{core_tag}^{{commit}}"),
        ],
    )?;
    let mut files: Vec<&str> = files.lines().collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "hpm-registry/alpha.yaml",
            "hpm-registry/beta.yaml",
            "pyproject.toml"
        ]
    );
    let alpha_commit = git_out(
        &fixture.remote("alpha"),
        &["rev-parse", "v1.1.0.dev1^{commit}"],
    )?;
    let core_release = &fixture.forge.releases("remotes/core-app")[0];
    let body = core_release["body"].as_str().unwrap_or_default();
    assert!(body.contains("1.1.0.dev1"), "{body}");
    assert!(body.contains(&alpha_commit.trim()[..12]), "{body}");
    // Every call carried the token.
    assert!(fixture.forge.calls().iter().all(|c| c.authorized));
    // No package is left dirty.
    for name in ["alpha", "beta", "core-app"] {
        let status = git_out(&fixture.clone_of(name), &["status", "--porcelain"])?;
        assert_eq!(status, "", "{name} is dirty after the release");
    }

    // The moved registry installs the new tags.
    fixture.world.ok(&["switch", "staging"])?;
    assert_eq!(installed_version(&fixture.world, "alpha")?, "1.1.0.dev1");
    assert_eq!(installed_version(&fixture.world, "beta")?, "1.1.0.dev1");
    Ok(())
}

/// The step keys of a report, with their states.
fn steps(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    (
                        s["step"].as_str().unwrap_or_default().to_string(),
                        s["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A report's effects per step, with the core's forge notes left out (its
/// table holds the packages' commits, known only once they are tagged).
fn effects(report: &Value) -> Vec<(String, Value)> {
    report["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    let mut effects = s["effects"].clone();
                    let step = s["step"].as_str().unwrap_or_default().to_string();
                    if step.starts_with("core-app:") {
                        for effect in effects.as_array_mut().into_iter().flatten() {
                            if effect["body"]["body"].is_string() {
                                effect["body"]["body"] = Value::Null;
                            }
                        }
                    }
                    (step, effects)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Regression: a dry run against a forge that was down reported a
/// conflict "a person must resolve" and suggested `resume` (exit 5),
/// though nothing had begun. It is its own outcome, `unreachable` (exit 6),
/// naming what did not answer; no resume is suggested; nothing changed.
#[test]
fn a_dry_run_against_a_forge_that_is_down_is_unreachable_not_a_conflict() -> Result<()> {
    let mut fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    fixture.forge.stop();
    let before = snapshot(&fixture, true)?;
    let (output, dry) = fixture.apply(&id, true)?;
    assert_eq!(output.status.code(), Some(6), "{}", describe(&output));
    assert_eq!(dry["outcome"], "unreachable", "{dry}");
    assert!(dry.get("resume").is_none_or(Value::is_null), "{dry}");
    let problems = dry["problems"].to_string();
    assert!(
        problems.contains(&fixture.forge.url().to_string()) && problems.contains("did not answer"),
        "{dry}"
    );
    assert_eq!(
        diff(&before, &snapshot(&fixture, true)?),
        Vec::<String>::new()
    );
    // On a terminal: no conflict, no resume.
    let mut args = vec!["--dry-run", "release", "apply", id.as_str(), "--yes"];
    args.extend(["--notes", "auto"]);
    let told = fixture.run(&args)?;
    assert_eq!(told.status.code(), Some(6), "{}", describe(&told));
    assert!(
        stdout(&told).contains("dry run stopped: a remote or the forge did not answer")
            && !stdout(&told).contains("resume")
            && !stdout(&told).contains("conflict"),
        "{}",
        describe(&told)
    );
    Ok(())
}

#[test]
fn a_dry_run_changes_nothing_anywhere_and_shows_exactly_what_the_release_then_does() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging", "--with-core"])?;
    let before = snapshot(&fixture, true)?;
    let (output, dry) = fixture.apply(&id, true)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(dry["outcome"], "dry-run", "{dry}");
    // Not a file anywhere (work trees, repositories, remotes, the registry,
    // the release's own folder), nor the forge.
    assert_eq!(
        diff(&before, &snapshot(&fixture, true)?),
        Vec::<String>::new()
    );
    assert_eq!(
        fixture.forge.writes().len(),
        0,
        "{:?}",
        fixture.forge.writes()
    );
    let planned_steps = steps(&dry);
    assert!(
        planned_steps.iter().all(|(_, state)| state == "todo"),
        "{planned_steps:?}"
    );
    // In dependency order: alpha's push before beta's version, the
    // registry before the core's version, the core's publish last.
    let index = |key: &str| planned_steps.iter().position(|(k, _)| k == key);
    assert!(
        index("alpha:push") < index("beta:set-version"),
        "{planned_steps:?}"
    );
    assert!(
        index("registry") < index("core-app:set-version"),
        "{planned_steps:?}"
    );
    assert_eq!(
        planned_steps.last().map(|(k, _)| k.as_str()),
        Some("core-app:publish")
    );
    // The registry's files are named as they are (`registry:
    // ./hpm-registry` is not shown as `<core>/./hpm-registry`).
    let written: Vec<String> = effects(&dry)
        .into_iter()
        .filter(|(step, _)| step == "registry")
        .flat_map(|(_, effects)| effects.as_array().cloned().unwrap_or_default())
        .filter_map(|effect| effect["path"].as_str().map(str::to_string))
        .collect();
    let registry = fixture.world.core().join("hpm-registry");
    assert_eq!(
        written,
        [
            registry.join("alpha.yaml").display().to_string(),
            registry.join("beta.yaml").display().to_string()
        ]
    );
    // A tag's name goes after `--`: git never reads it as an option.
    let tags: Vec<Value> = effects(&dry)
        .into_iter()
        .filter(|(step, _)| step.ends_with(":tag"))
        .flat_map(|(_, effects)| effects.as_array().cloned().unwrap_or_default())
        .collect();
    assert!(!tags.is_empty(), "{dry}");
    for tag in &tags {
        let argv: Vec<&str> = tag["argv"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let name = argv.iter().position(|arg| arg.starts_with('v'));
        assert!(
            name.is_some_and(|at| at > 0 && argv[at - 1] == "--"),
            "{argv:?}"
        );
    }

    // The real run does what the dry run said, step by step.
    let (output, real) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(effects(&real), effects(&dry));
    Ok(())
}

#[test]
fn a_release_killed_after_any_step_resumes_to_the_same_end_with_nothing_twice() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging", "--with-core"])?;
    let (_, dry) = fixture.apply(&id, true)?;
    let keys: Vec<String> = steps(&dry).into_iter().map(|(k, _)| k).collect();
    assert!(keys.len() > 10, "{keys:?}");
    // Each run finds the steps before done and is killed right after the
    // next one: every boundary is crossed by a kill once.
    for key in &keys {
        let output = fixture
            .hpmctl(&[
                "--json", "release", "resume", &id, "--yes", "--notes", "auto",
            ])
            .env(hpm_engine::ops::release::CRASH_AFTER, key)
            .output()?;
        assert!(
            !output.status.success() && output.status.code().is_none(),
            "the run was to die after {key}: {}",
            describe(&output)
        );
    }
    let (output, report) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(report["outcome"], "complete");
    assert!(
        steps(&report).iter().all(|(_, state)| state == "done"),
        "everything was found done: {report}"
    );
    fixture.released_once(&id, &["alpha", "beta", "core-app"])?;
    // `status` agrees.
    let status = fixture.ok(&["--json", "release", "status", &id])?;
    let status: Value = serde_json::from_slice(&status.stdout)?;
    assert_eq!(status["outcome"], "complete", "{status}");
    Ok(())
}

#[test]
fn a_push_the_remote_refuses_leaves_a_partial_release_that_resume_finishes() -> Result<()> {
    let fixture = fixture()?;
    let hook = fixture.remote("beta").join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'protected branch: no pushes today' >&2\nexit 1\n",
    )?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    }
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging"])?;
    let (output, report) = fixture.apply(&id, false)?;
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    assert_eq!(report["outcome"], "partial");
    assert_eq!(report["resume"], format!("hpmctl release resume {id}"));
    let failed: Vec<_> = steps(&report)
        .into_iter()
        .filter(|(_, state)| state == "failed")
        .collect();
    assert_eq!(failed, [("beta:push".to_string(), "failed".to_string())]);
    assert!(
        report.to_string().contains("no pushes today"),
        "the remote's words are shown: {report}"
    );
    // alpha is out; beta's tag is local only.
    assert!(git_out(&fixture.remote("alpha"), &["tag"])?.contains("v1.1.0.dev1"));
    assert!(!git_out(&fixture.remote("beta"), &["tag"])?.contains("v1.1.0.dev1"));
    // Without a terminal, the printed command says what to do.
    let text = fixture.run(&["release", "apply", &id, "--yes", "--notes", "auto"])?;
    assert!(
        stdout(&text).contains(&format!("hpmctl release resume {id}")),
        "{}",
        describe(&text)
    );

    std::fs::remove_file(&hook)?;
    let output = fixture.ok(&[
        "--json", "release", "resume", &id, "--yes", "--notes", "auto",
    ])?;
    let report: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(report["outcome"], "complete");
    assert!(git_out(&fixture.remote("beta"), &["tag"])?.contains("v1.1.0.dev1"));
    assert_eq!(fixture.forge.releases("remotes/alpha").len(), 1);
    assert_eq!(fixture.forge.releases("remotes/beta").len(), 1);
    Ok(())
}

#[test]
fn a_tag_someone_else_pushed_at_another_commit_is_a_conflict_for_a_person() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let crashed = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env(hpm_engine::ops::release::CRASH_AFTER, "alpha:commit")
        .output()?;
    assert!(crashed.status.code().is_none(), "{}", describe(&crashed));
    // Meanwhile a colleague tags the old head with the same version.
    let other = fixture.world.root().join("colleague");
    git(
        fixture.world.root(),
        &[
            "clone",
            "-q",
            &fixture.world.remote_url("alpha"),
            &other.display().to_string(),
        ],
    )?;
    git(&other, &["tag", "v1.1.0.dev1"])?;
    git(&other, &["push", "-q", "origin", "v1.1.0.dev1"])?;
    let theirs = git_out(&other, &["rev-parse", "HEAD"])?;

    let (output, report) = fixture.apply(&id, false)?;
    assert_eq!(output.status.code(), Some(5), "{}", describe(&output));
    assert_eq!(report["outcome"], "conflict");
    let conflict = steps(&report).into_iter().find(|(_, s)| s == "conflict");
    assert_eq!(conflict.map(|(k, _)| k).as_deref(), Some("alpha:push"));
    // hpm never moves a public tag.
    assert_eq!(
        git_out(
            &fixture.remote("alpha"),
            &["rev-parse", "v1.1.0.dev1^{commit}"]
        )?,
        theirs
    );
    assert_eq!(fixture.forge.writes().len(), 0);
    Ok(())
}

#[test]
fn a_failed_preflight_changes_nothing_and_names_every_problem() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging"])?;
    // beta gets uncommitted work, alpha goes off its branch.
    let beta = fixture.clone_of("beta");
    std::fs::write(beta.join("beta/wip.py"), "unfinished = True\n")?;
    git(
        &fixture.clone_of("alpha"),
        &["checkout", "-q", "-b", "experiment"],
    )?;
    let before = snapshot(&fixture, false)?;
    let (output, report) = fixture.apply(&id, false)?;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert_eq!(report["outcome"], "preflight-failed");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("experiment") || problems.contains("not on `main`"),
        "{problems}"
    );
    assert!(problems.contains("wip.py"), "{problems}");
    assert_eq!(
        diff(&before, &snapshot(&fixture, false)?),
        Vec::<String>::new()
    );
    assert_eq!(fixture.forge.writes().len(), 0);
    assert_eq!(
        std::fs::read_to_string(beta.join("beta/wip.py"))?,
        "unfinished = True\n"
    );
    Ok(())
}

#[test]
fn without_a_terminal_or_yes_nothing_public_happens() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let before = snapshot(&fixture, true)?;
    let output = fixture.run(&["release", "apply", &id, "--notes", "auto"])?;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        hpm_tests::stderr(&output).contains("--yes"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        diff(&before, &snapshot(&fixture, true)?),
        Vec::<String>::new()
    );
    assert!(fixture.forge.calls().is_empty());
    Ok(())
}

#[test]
fn the_forge_losing_an_answer_failing_or_rate_limiting_makes_no_duplicate() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    // The draft is made but its answer lost; the publish meets a 502 and a
    // rate limit first.
    fixture.forge.fault_next("POST", Fault::LostAnswer);
    fixture.forge.fault_next("PATCH", Fault::ServerError);
    fixture.forge.fault_next("PATCH", Fault::RateLimited);
    let (output, report) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(report["outcome"], "complete");
    // Each wait is said as it begins (with --json too, on stderr): never
    // seconds of silence.
    let said = stderr(&output);
    for wait in [
        "waiting: the forge: POST ",
        "looking for the release it may have made, then attempt 2 of 5",
        "waiting: the forge: PATCH ",
        "(502: ",
        "attempt 2 of 5 in 200 ms",
        "waiting: the forge's rate limit: waiting 1 s before PATCH ",
    ] {
        assert!(said.contains(wait), "{wait:?} in {}", describe(&output));
    }
    let releases = fixture.forge.releases("remotes/alpha");
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert_eq!(releases[0]["draft"], false);
    let posts = fixture
        .forge
        .writes()
        .into_iter()
        .filter(|c| c.method == "POST")
        .count();
    assert_eq!(posts, 1, "the lost POST was found, not sent again");
    let statuses: Vec<u16> = fixture
        .forge
        .writes()
        .into_iter()
        .filter(|c| c.method == "PATCH")
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [502, 403, 200]);
    Ok(())
}

#[test]
fn a_release_of_a_tag_someone_made_by_hand_on_the_forge_is_refused_not_replaced() -> Result<()> {
    let fixture = fixture()?;
    fixture
        .forge
        .add_release("remotes/alpha", "v1.1.0.dev1", false);
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let (output, report) = fixture.apply(&id, false)?;
    assert_eq!(output.status.code(), Some(5), "{}", describe(&output));
    assert!(report.to_string().contains("did not make"), "{report}");
    assert_eq!(fixture.forge.releases("remotes/alpha").len(), 1);
    assert_eq!(
        fixture.forge.releases("remotes/alpha")[0]["body"],
        "by hand"
    );
    Ok(())
}

#[test]
fn abort_undoes_what_is_not_public_and_keeps_what_is() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging"])?;
    let beta = fixture.clone_of("beta");
    let beta_head = git_out(&beta, &["rev-parse", "HEAD"])?;
    let beta_pyproject = std::fs::read(beta.join("pyproject.toml"))?;
    let crashed = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env(hpm_engine::ops::release::CRASH_AFTER, "beta:tag")
        .output()?;
    assert!(crashed.status.code().is_none(), "{}", describe(&crashed));
    // Uncommitted work of the user's, which abort must not touch.
    std::fs::write(beta.join("NOTES.txt"), "mine\n")?;
    let output = fixture.ok(&["release", "abort", &id])?;
    let said = stdout(&output);
    assert!(said.contains("undone"), "{said}");
    assert!(said.contains("kept (public)"), "alpha is pushed: {said}");
    assert_eq!(git_out(&beta, &["rev-parse", "HEAD"])?, beta_head);
    assert_eq!(std::fs::read(beta.join("pyproject.toml"))?, beta_pyproject);
    assert_eq!(git_out(&beta, &["tag", "-l", "v1.1.0.dev1"])?, "");
    assert_eq!(std::fs::read_to_string(beta.join("NOTES.txt"))?, "mine\n");
    // alpha's release is public: its tag stays on the remote.
    assert!(git_out(&fixture.remote("alpha"), &["tag"])?.contains("v1.1.0.dev1"));
    Ok(())
}

#[test]
fn abort_after_the_push_deletes_the_draft_and_says_the_tag_stays() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let crashed = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env(hpm_engine::ops::release::CRASH_AFTER, "alpha:draft")
        .output()?;
    assert!(crashed.status.code().is_none(), "{}", describe(&crashed));
    assert_eq!(fixture.forge.releases("remotes/alpha")[0]["draft"], true);
    let output = fixture.ok(&["release", "abort", &id])?;
    let said = stdout(&output);
    assert!(fixture.forge.releases("remotes/alpha").is_empty(), "{said}");
    assert!(
        said.contains("kept (public)") && said.contains("v1.1.0.dev1"),
        "{said}"
    );
    assert!(git_out(&fixture.remote("alpha"), &["tag"])?.contains("v1.1.0.dev1"));
    Ok(())
}

#[test]
fn a_prod_promotion_releases_the_staged_code_as_the_final_version() -> Result<()> {
    let fixture = fixture()?;
    let staged = fixture.plan(&["alpha", "beta", "--mode", "staging"])?;
    let (output, _) = fixture.apply(&staged, false)?;
    assert!(output.status.success(), "{}", describe(&output));

    // A change after the staging tag is refused for prod, naming the file.
    let beta = fixture.clone_of("beta");
    std::fs::write(beta.join("beta/late.py"), "LATE = 1\n")?;
    git(&beta, &["add", "beta/late.py"])?;
    git(&beta, &["commit", "-q", "-m", "fix: a late change"])?;
    let refused = fixture.run(&["release", "plan", "alpha", "beta", "--mode", "prod"])?;
    assert!(!refused.status.success(), "{}", describe(&refused));
    let said = hpm_tests::stderr(&refused);
    assert!(
        said.contains("beta/late.py") && said.contains("--allow-changes"),
        "{said}"
    );
    git(&beta, &["reset", "-q", "--hard", "HEAD~1"])?;

    let id = fixture.plan(&["alpha", "beta", "--mode", "prod"])?;
    let packages = planned(&fixture, &id)?;
    // 1.1.0.dev1 becomes 1.1.0, never 1.1.1.
    assert_eq!(packages["alpha"]["version"], "1.1.0");
    assert_eq!(packages["alpha"]["previous_tag"], "v1.1.0.dev1");
    let (output, report) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(report["outcome"], "complete");
    for name in ["alpha", "beta"] {
        let remote = fixture.remote(name);
        // Only the version moved since the staged tag.
        let changed = git_out(&remote, &["diff", "--name-only", "v1.1.0.dev1", "v1.1.0"])?;
        assert_eq!(changed.trim(), "pyproject.toml");
        let releases = fixture.forge.releases(&format!("remotes/{name}"));
        let prod = releases
            .iter()
            .find(|r| r["tag_name"] == "v1.1.0")
            .context("the prod release")?;
        assert_eq!(prod["prerelease"], false);
        assert_eq!(prod["draft"], false);
        assert_eq!(prod["make_latest"], "true");
        let entry = fixture.world.read(&format!("hpm-registry/{name}.yaml"))?;
        assert!(entry.contains("ref: v1.1.0 }"), "{entry}");
    }
    fixture.world.ok(&["switch", "prod"])?;
    assert_eq!(installed_version(&fixture.world, "alpha")?, "1.1.0");
    assert_eq!(installed_version(&fixture.world, "beta")?, "1.1.0");
    Ok(())
}

#[test]
fn packages_that_depend_on_each_other_in_a_cycle_are_refused_naming_it() -> Result<()> {
    let fixture = fixture()?;
    let alpha = fixture.clone_of("alpha");
    let pyproject = std::fs::read_to_string(alpha.join("pyproject.toml"))?;
    std::fs::write(
        alpha.join("pyproject.toml"),
        pyproject.replace("dependencies = []", "dependencies = [\"beta\"]"),
    )?;
    git(&alpha, &["commit", "-q", "-am", "feat: alpha needs beta"])?;
    let output = fixture.run(&["release", "plan", "alpha", "beta", "--mode", "staging"])?;
    assert!(!output.status.success());
    let said = hpm_tests::stderr(&output);
    assert!(
        said.contains("cycle") && said.contains("alpha") && said.contains("beta"),
        "{said}"
    );
    assert!(
        !fixture.world.core().join(".hpm/releases").exists() || {
            std::fs::read_dir(fixture.world.core().join(".hpm/releases"))?
                .next()
                .is_none()
        }
    );
    Ok(())
}

#[test]
fn filled_llm_notes_become_the_tag_message_and_the_release_body() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    fixture.ok(&["release", "notes", &id])?;
    let folder = fixture
        .world
        .core()
        .join(format!(".hpm/releases/{id}/llm/alpha"));
    for file in [
        "context.json",
        "commits.md",
        "diffstat.txt",
        "diff.patch",
        "release-notes.md",
        "commit-message.txt",
    ] {
        assert!(folder.join(file).is_file(), "{file} is in the bundle");
    }
    let context: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("context.json"))?)?;
    assert_eq!(context["version"], "1.1.0.dev1", "{context}");
    let patch = std::fs::read_to_string(folder.join("diff.patch"))?;
    assert!(patch.contains("+NAME = \"alpha\""), "{patch}");
    // Unfilled, a run without `--notes auto` stops before any change.
    let output = fixture.run(&["release", "apply", &id, "--yes"])?;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        stdout(&output).contains("release-notes.md"),
        "{}",
        describe(&output)
    );

    // Pasted text that is not the slot (its first line gone) is refused.
    let slot = folder.join("release-notes.md");
    let prompt = std::fs::read_to_string(folder.join("prompt-release-notes.md"))?;
    let first = prompt
        .lines()
        .find(|l| l.starts_with("<!-- hpm-inputs: "))
        .context("the prompt gives the first line")?
        .to_string();
    std::fs::write(&slot, "$ cat notes\n# alpha\n")?;
    assert!(!fixture
        .run(&["release", "notes", &id, "--check"])?
        .status
        .success());
    let notes = "# alpha 1.1.0.dev1\n\n## Highlights\n\n- alpha knows its own name now\n";
    std::fs::write(&slot, format!("{first}\n{notes}"))?;
    fixture.ok(&["release", "notes", &id, "--check"])?;
    // Writing the bundle again keeps what was filled.
    fixture.ok(&["release", "notes", &id])?;
    assert!(std::fs::read_to_string(&slot)?.contains("## Highlights"));

    fixture.ok(&["release", "apply", &id, "--yes"])?;
    let message = git_out(
        &fixture.remote("alpha"),
        &["tag", "-l", "--format=%(contents)", "v1.1.0.dev1"],
    )?;
    assert!(
        message.contains("## Highlights\n\n- alpha knows its own name now"),
        "{message}"
    );
    let body = fixture.forge.releases("remotes/alpha")[0]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(body.contains("## Highlights"), "{body}");
    Ok(())
}

#[test]
fn filled_notes_still_hold_when_a_release_killed_after_its_commit_resumes() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    fixture.ok(&["release", "notes", &id])?;
    let folder = fixture
        .world
        .core()
        .join(format!(".hpm/releases/{id}/llm/alpha"));
    let prompt = std::fs::read_to_string(folder.join("prompt-release-notes.md"))?;
    let first = prompt
        .lines()
        .find(|l| l.starts_with("<!-- hpm-inputs: "))
        .context("the prompt gives the first line")?
        .to_string();
    std::fs::write(
        folder.join("release-notes.md"),
        format!("{first}\n# alpha 1.1.0.dev1\n\n- written before the run\n"),
    )?;
    fixture.ok(&["release", "notes", &id, "--check"])?;
    // Code that moved after the notes makes them stale; moved back, they
    // hold again.
    let clone = fixture.clone_of("alpha");
    git(
        &clone,
        &["commit", "-q", "--allow-empty", "-m", "fix: late"],
    )?;
    let stale = fixture.run(&["release", "notes", &id, "--check"])?;
    assert!(!stale.status.success(), "{}", describe(&stale));
    assert!(describe(&stale).contains("stale"), "{}", describe(&stale));
    git(&clone, &["reset", "-q", "--hard", "HEAD~1"])?;
    fixture.ok(&["release", "notes", &id, "--check"])?;
    // Killed right after the release commit: the clone's head moved, by
    // hpm's own commit, which must not make the notes stale.
    let killed = fixture
        .hpmctl(&["release", "apply", &id, "--yes"])
        .env(hpm_engine::ops::release::CRASH_AFTER, "alpha:commit")
        .output()?;
    assert!(killed.status.code().is_none(), "{}", describe(&killed));
    let resumed = fixture.run(&["--json", "release", "resume", &id, "--yes"])?;
    assert!(resumed.status.success(), "{}", describe(&resumed));
    let message = git_out(
        &fixture.remote("alpha"),
        &["tag", "-l", "--format=%(contents)", "v1.1.0.dev1"],
    )?;
    assert!(message.contains("- written before the run"), "{message}");
    Ok(())
}

#[test]
fn uncommitted_work_is_committed_first_with_the_written_message_and_only_its_files() -> Result<()> {
    let fixture = fixture()?;
    let clone = fixture.clone_of("alpha");
    std::fs::write(
        clone.join("alpha/feature.py"),
        "NAME = \"alpha\"\nLOUD = True\n",
    )?;
    std::fs::write(clone.join("alpha/extra.py"), "EXTRA = 1\n")?;
    // A new file is the release's once git tracks it.
    git(&clone, &["add", "alpha/extra.py"])?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let head = git_out(&clone, &["rev-parse", "HEAD"])?;

    // No message, no `--notes auto`: refused before any change.
    let refused = fixture.run(&["release", "apply", &id, "--yes"])?;
    assert_eq!(refused.status.code(), Some(3), "{}", describe(&refused));
    assert!(
        stdout(&refused).contains("commit-message.txt"),
        "{}",
        describe(&refused)
    );
    assert_eq!(git_out(&clone, &["rev-parse", "HEAD"])?, head);

    // The bundle's message, written as the prompt asks.
    fixture.ok(&["release", "notes", &id])?;
    let folder = fixture
        .world
        .core()
        .join(format!(".hpm/releases/{id}/llm/alpha"));
    let prompt = std::fs::read_to_string(folder.join("prompt-commit-message.md"))?;
    assert!(
        prompt.contains("alpha/extra.py, alpha/feature.py"),
        "{prompt}"
    );
    let echo = prompt
        .lines()
        .find(|l| l.starts_with("Hpm-Inputs: "))
        .context("the prompt gives the last line")?
        .to_string();
    std::fs::write(
        folder.join("commit-message.txt"),
        format!("feat(alpha): speak up\n\nA loud mode and an extra module.\n\n{echo}\n"),
    )?;
    fixture.ok(&["release", "notes", &id, "--check"])?;

    // A file the plan did not see is not swept in: the release stops
    // before any change, naming it.
    std::fs::write(clone.join("alpha/late.py"), "LATE = 1\n")?;
    let late = fixture.run(&["release", "apply", &id, "--yes", "--notes", "auto"])?;
    assert_eq!(late.status.code(), Some(3), "{}", describe(&late));
    assert!(
        stdout(&late).contains("has files git does not track: alpha/late.py"),
        "{}",
        describe(&late)
    );
    assert_eq!(git_out(&clone, &["rev-parse", "HEAD"])?, head);
    std::fs::remove_file(clone.join("alpha/late.py"))?;

    // Killed right after the work's commit, then resumed: nothing twice.
    let killed = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env(hpm_engine::ops::release::CRASH_AFTER, "alpha:commit-work")
        .output()?;
    assert!(killed.status.code().is_none(), "{}", describe(&killed));
    let resumed = fixture.run(&["release", "resume", &id, "--yes", "--notes", "auto"])?;
    assert!(resumed.status.success(), "{}", describe(&resumed));

    let remote = fixture.remote("alpha");
    let subjects = git_out(&remote, &["log", "--format=%s", "v1.1.0.dev0..v1.1.0.dev1"])?;
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        [
            "chore(release): alpha 1.1.0.dev1",
            "feat(alpha): speak up",
            "feat: alpha learns its name"
        ]
    );
    let work = git_out(
        &remote,
        &["show", "--format=%B", "--name-only", "v1.1.0.dev1^"],
    )?;
    assert!(
        work.contains("A loud mode and an extra module.")
            && work.contains(&format!("Hpm-Release-Work: {id}"))
            && !work.contains("Hpm-Inputs"),
        "{work}"
    );
    let files = git_out(
        &remote,
        &["show", "--format=", "--name-only", "v1.1.0.dev1^"],
    )?;
    assert_eq!(
        files.split_whitespace().collect::<Vec<_>>(),
        ["alpha/extra.py", "alpha/feature.py"]
    );
    assert_eq!(git_out(&clone, &["status", "--porcelain"])?, "");
    Ok(())
}

#[test]
fn run_plans_and_applies_in_one_command_for_ci() -> Result<()> {
    let fixture = fixture()?;
    let output = fixture.run(&[
        "release", "run", "alpha", "--mode", "staging", "--notes", "auto", "--yes",
    ])?;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(git_out(&fixture.remote("alpha"), &["tag"])?.contains("v1.1.0.dev1"));
    // A second run finds nothing new to release.
    let again = fixture.run(&[
        "release", "run", "alpha", "--mode", "staging", "--notes", "auto", "--yes",
    ])?;
    assert!(!again.status.success());
    assert!(
        hpm_tests::stderr(&again).contains("nothing to release"),
        "{}",
        describe(&again)
    );
    Ok(())
}

#[test]
fn forge_none_makes_tags_only_and_gitea_speaks_under_api_v1_with_its_token() -> Result<()> {
    let fixture = ReleaseWorld::new(
        &[("alpha", &[]), ("beta", &["alpha"])],
        "release:\n  forge: none\n",
    )?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let (output, _) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(git_out(&fixture.remote("alpha"), &["tag"])?.contains("v1.1.0.dev1"));
    assert!(fixture.forge.calls().is_empty());

    let fixture = ReleaseWorld::new(
        &[("alpha", &[]), ("beta", &["alpha"])],
        "release:\n  forge: gitea\n  tag_prefix: \"\"\n",
    )?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let output = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env_remove("GITHUB_TOKEN")
        .env("GITEA_TOKEN", TOKEN)
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    // The existing tags keep their prefix; the new one has none.
    assert!(git_out(&fixture.remote("alpha"), &["tag"])?
        .lines()
        .any(|t| t == "1.1.0.dev1"));
    let calls = fixture.forge.calls();
    assert!(!calls.is_empty());
    assert!(
        calls
            .iter()
            .all(|c| c.url.starts_with("/api/v1/repos/remotes/alpha/releases")),
        "{calls:?}"
    );
    assert!(calls.iter().all(|c| c.authorized));
    assert_eq!(
        fixture.forge.releases("remotes/alpha")[0]["tag_name"],
        "1.1.0.dev1"
    );
    Ok(())
}

#[test]
fn a_missing_token_fails_the_preflight_and_the_token_is_never_written_down() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let output = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env_remove("GITHUB_TOKEN")
        .output()?;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        stdout(&output).contains("GITHUB_TOKEN"),
        "{}",
        describe(&output)
    );
    let (output, _) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    let mut found = Vec::new();
    walk(&fixture.world.core().join(".hpm"), &mut |path| {
        if std::fs::read(path)?
            .windows(TOKEN.len())
            .any(|w| w == TOKEN.as_bytes())
        {
            found.push(path.display().to_string());
        }
        Ok(())
    })?;
    assert_eq!(found, Vec::<String>::new());
    Ok(())
}

/// A registry kept in its own git repository: `registry-src` pushed to the
/// bare `remotes/registry.git`, holding `packages/<name>.yaml`.
fn git_registry(fixture: &ReleaseWorld) -> Result<(PathBuf, String)> {
    let root = fixture.world.root();
    let work = root.join("registry-src");
    std::fs::create_dir_all(work.join("packages"))?;
    git(&work, &["init", "-q", "-b", "main"])?;
    for name in ["alpha", "beta"] {
        std::fs::copy(
            fixture
                .world
                .core()
                .join(format!("hpm-registry/{name}.yaml")),
            work.join(format!("packages/{name}.yaml")),
        )?;
    }
    std::fs::write(work.join("README.md"), "The team's registry.\n")?;
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "-q", "-m", "the registry"])?;
    let bare = root.join("remotes/registry.git");
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            &work.display().to_string(),
            &bare.display().to_string(),
        ],
    )?;
    git(
        &work,
        &["remote", "add", "origin", &bare.display().to_string()],
    )?;
    let url = format!("file://{}", bare.display());
    fixture.world.write_manifest(&format!(
        "version: 1\nmode: dev\nregistry: {{ git: \"{url}\", ref: main }}\npackages: [alpha, beta]\n{GITHUB}"
    ))?;
    Ok((work, url))
}

#[test]
fn a_dry_run_reads_a_git_registry_at_its_tip_without_fetching_into_hpms_cache() -> Result<()> {
    let fixture = fixture()?;
    let (work, _url) = git_registry(&fixture)?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging"])?;
    // A colleague's edit of alpha's entry lands after the plan: the dry
    // run must show the registry edit on top of it.
    let entry = work.join("packages/alpha.yaml");
    let text = std::fs::read_to_string(&entry)?;
    std::fs::write(&entry, format!("{text}# owned by the platform team\n"))?;
    git(&work, &["commit", "-q", "-am", "docs: say who owns alpha"])?;
    git(&work, &["push", "-q", "origin", "HEAD:main"])?;

    // Nothing anywhere changes, hpm's cache (in the world) included.
    let before = snapshot(&fixture, true)?;
    let (output, dry) = fixture.apply(&id, true)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        diff(&before, &snapshot(&fixture, true)?),
        Vec::<String>::new()
    );
    let registry = effects(&dry)
        .into_iter()
        .find(|(step, _)| step == "registry")
        .map(|(_, effects)| effects.to_string())
        .context("a registry step")?;
    assert!(
        registry.contains("owned by the platform team"),
        "the dry run read a stale registry: {registry}"
    );

    // And the real run does just that.
    let (output, real) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(effects(&real), effects(&dry));
    Ok(())
}

#[test]
fn a_git_registry_gets_one_commit_pushed_fast_forward_even_when_it_loses_a_race() -> Result<()> {
    let fixture = fixture()?;
    let (work, _url) = git_registry(&fixture)?;
    let bare = fixture.remote("registry");
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging"])?;
    // A colleague's registry commit, which lands on `main` while hpm's
    // first push is in flight (the hook moves `main` to it, once).
    std::fs::write(work.join("README.md"), "The team's registry, read me.\n")?;
    git(&work, &["commit", "-q", "-am", "docs: a better readme"])?;
    git(
        &work,
        &["push", "-q", "origin", "HEAD:refs/heads/colleague"],
    )?;
    let colleague = git_out(&work, &["rev-parse", "HEAD"])?;
    let once = fixture.world.root().join("race-once");
    std::fs::write(&once, "")?;
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nif [ -e {once} ]; then\n  rm {once}\n  unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n  git update-ref refs/heads/main refs/heads/colleague\nfi\nexit 0\n",
            once = once.display()
        ),
    )?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    }
    let (output, report) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(report["outcome"], "complete");
    assert!(!once.exists(), "the race happened");
    // hpm's commit sits on top of the colleague's: nothing of theirs lost.
    let parent = git_out(&bare, &["rev-parse", "main^"])?;
    assert_eq!(parent, colleague);
    assert_eq!(
        git_out(&bare, &["show", "main:README.md"])?,
        "The team's registry, read me.\n"
    );
    let ours = git_out(
        &bare,
        &[
            "log",
            "--format=%H",
            &format!("--grep=Hpm-Release-Id: {id}"),
            "main",
        ],
    )?;
    assert_eq!(ours.lines().count(), 1, "one registry commit");
    for name in ["alpha", "beta"] {
        let entry = git_out(&bare, &["show", &format!("main:packages/{name}.yaml")])?;
        assert!(entry.contains("ref: v1.1.0.dev1"), "{entry}");
        assert!(
            entry.starts_with(&format!("# {name}: kept by hand")),
            "{entry}"
        );
    }
    // The commit records each tag's commit.
    let message = git_out(&bare, &["log", "-1", "--format=%B", "main"])?;
    let alpha_commit = git_out(
        &fixture.remote("alpha"),
        &["rev-parse", "v1.1.0.dev1^{commit}"],
    )?;
    assert!(message.contains(alpha_commit.trim()), "{message}");

    // The workspace takes the moved registry on an update.
    fixture.world.ok(&["registry", "update"])?;
    fixture.world.ok(&["switch", "staging"])?;
    assert_eq!(installed_version(&fixture.world, "alpha")?, "1.1.0.dev1");
    Ok(())
}

#[test]
fn tags_are_signed_when_git_is_configured_to_sign_and_keep_their_headings() -> Result<()> {
    let fixture = fixture()?;
    let home = fixture.world.root().join("gnupg");
    std::fs::create_dir_all(&home)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))?;
    }
    let gpg = |args: &[&str]| -> Result<Output> {
        let output = Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .context("gpg is needed for the signed-tag test (apt install gnupg)")?;
        ensure!(
            output.status.success(),
            "gpg {}: {}",
            args.join(" "),
            describe(&output)
        );
        Ok(output)
    };
    gpg(&[
        "--quick-generate-key",
        "hpm tests <sign@hpm.invalid>",
        "ed25519",
        "sign",
        "never",
    ])?;
    let listed = stdout(&gpg(&["--list-secret-keys", "--with-colons"])?);
    let fingerprint = listed
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .map(|l| l.trim_matches(':').to_string())
        .context("the throwaway key's fingerprint")?;
    let mut config = std::fs::read_to_string(fixture.git_config())?;
    config = config.replace("[tag]\n\tgpgsign = false\n", "");
    config.push_str(&format!(
        "[user]\n\tsigningkey = {fingerprint}\n[tag]\n\tgpgSign = true\n"
    ));
    std::fs::write(fixture.git_config(), config)?;

    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let output = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env("GNUPGHOME", &home)
        .output()?;
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "all"])
        .output();
    assert!(output.status.success(), "{}", describe(&output));
    let verified = Command::new("git")
        .current_dir(fixture.remote("alpha"))
        .env("GNUPGHOME", &home)
        .args(["verify-tag", "v1.1.0.dev1"])
        .output()?;
    assert!(verified.status.success(), "{}", describe(&verified));
    let message = git_out(
        &fixture.remote("alpha"),
        &["tag", "-l", "--format=%(contents:body)", "v1.1.0.dev1"],
    )?;
    assert!(message.contains("## Features"), "{message}");
    Ok(())
}

#[test]
fn the_daemon_applies_a_release_as_a_job_and_streams_its_steps_and_waits() -> Result<()> {
    use hpm_protocol::release::Outcome;
    use hpm_protocol::report::ReleaseApplyRequest;
    use hpm_protocol::HpmApiClient;
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    // The daemon has the git identity the release commits need, not the
    // token: that travels in the request.
    let started = fixture
        .world
        .hpmctl()
        .args(["daemon", "start"])
        .env("GIT_CONFIG_GLOBAL", fixture.git_config())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GITHUB_TOKEN")
        .output()?;
    assert!(started.status.success(), "{}", describe(&started));
    let events = hpm_tests::EventStream::follow(&fixture.world)?;
    let mark = events.len();
    // The publish meets a server error: the wait is streamed too.
    fixture.forge.fault_next("PATCH", Fault::ServerError);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let client = hpm_tests::rpc_client(&fixture.world.socket()).await?;
        let request = ReleaseApplyRequest {
            id: id.clone(),
            dry_run: false,
            notes_auto: true,
            token: Some(TOKEN.to_string()),
        };
        anyhow::Ok(
            client
                .release_apply(fixture.world.core(), request, None)
                .await?,
        )
    })?;
    assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    let finished = events.wait(mark, "release_finished", |e| {
        e["event"] == "release_finished"
    })?;
    assert_eq!(finished["id"], id.as_str());
    assert_eq!(finished["outcome"], "complete");
    let streamed: Vec<String> = events
        .named_since(mark, "release_step")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["step"].as_str().unwrap_or(""),
                e["state"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        streamed,
        [
            "alpha:set-version applied",
            "alpha:commit applied",
            "alpha:tag applied",
            "alpha:push applied",
            "alpha:draft applied",
            "alpha:publish applied",
            "registry applied",
        ]
    );
    let waits = events.named_since(mark, "release_waiting");
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(waits[0]["id"], id.as_str());
    let message = waits[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the forge: PATCH ") && message.contains("attempt 2 of 5"),
        "{message}"
    );
    assert!(git_out(&fixture.remote("alpha"), &["tag"])?.contains("v1.1.0.dev1"));
    assert!(fixture.forge.calls().iter().all(|c| c.authorized));
    // The token is in no file of the world: no log, plan or journal.
    let mut found = Vec::new();
    walk(fixture.world.root(), &mut |path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        if bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()) {
            found.push(path.display().to_string());
        }
        Ok(())
    })?;
    assert_eq!(found, Vec::<String>::new());
    Ok(())
}

/// Regression: at `HPM_LOG=trace` ureq's wire trace hex-dumped the request
/// headers (`Authorization: Bearer …`) to stderr. No level shows a secret:
/// the whole trace of a release against the forge holds the token in no
/// form (as text, in hex, in base64).
#[test]
fn the_forge_token_reaches_no_trace_in_any_form() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let output = fixture
        .hpmctl(&[
            "--json", "release", "apply", &id, "--yes", "--notes", "auto",
        ])
        .env("HPM_LOG", "trace")
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    let trace = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        trace.contains("TRACE"),
        "HPM_LOG=trace took no effect:\n{trace}"
    );
    let everything = format!("{trace}{}", String::from_utf8_lossy(&output.stdout));
    let leaked = hpm_tests::forge::leaked_form(&everything, TOKEN);
    assert_eq!(leaked, None, "the token is in the trace");
    Ok(())
}

/// Regression: an untracked, unignored `.env.local` in a package clone was
/// "uncommitted work, committed first", pushed to the remote, and its
/// content went into the LLM bundle's `diff.patch`. Files git does not
/// track stop the plan, naming them and the way out; ignored, they stay
/// out of the release, its commits, its push and its bundle.
#[test]
fn files_git_does_not_track_never_leave_in_a_release() -> Result<()> {
    let fixture = fixture()?;
    let clone = fixture.clone_of("alpha");
    let secret = "API_KEY=sk-live-untracked-4f2a";
    std::fs::write(clone.join(".env.local"), format!("{secret}\n"))?;
    std::fs::write(
        clone.join("alpha/feature.py"),
        "NAME = \"alpha\"\nLOUD = True\n",
    )?;

    let refused = fixture.run(&["--json", "release", "plan", "alpha", "--mode", "staging"])?;
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let said = stdout(&refused);
    assert!(
        said.contains("has files git does not track") && said.contains(".env.local"),
        "{}",
        describe(&refused)
    );
    assert!(said.contains(".gitignore"), "the way out: {said}");

    // Ignored (as the hint says): the release goes on without it.
    let exclude = clone.join(".git/info/exclude");
    let mut ignored = std::fs::read_to_string(&exclude).unwrap_or_default();
    ignored.push_str(".env.local\n");
    std::fs::write(&exclude, ignored)?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    fixture.ok(&["release", "notes", &id])?;
    let (output, report) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(report["outcome"], "complete", "{report}");
    let remote = fixture.remote("alpha");
    let pushed = git_out(&remote, &["log", "--all", "--name-only", "--format="])?;
    assert!(!pushed.contains(".env.local"), "{pushed}");
    assert!(
        pushed.contains("alpha/feature.py"),
        "the tracked work was released: {pushed}"
    );
    let mut bundle = String::new();
    walk(
        &fixture.world.core().join(format!(".hpm/releases/{id}")),
        &mut |file| {
            bundle.push_str(&String::from_utf8_lossy(&std::fs::read(file)?));
            Ok(())
        },
    )?;
    assert!(
        !bundle.contains(secret),
        "the release's files hold the secret"
    );
    Ok(())
}

/// Regression: `release plan` printed a commit subject's terminal escapes
/// raw (`\033]0;…\a` retitled the window, `\033[31m` recoloured it). What
/// hpm prints from a repository reaches the terminal escaped.
#[test]
fn a_commit_subject_cannot_drive_the_terminal() -> Result<()> {
    let fixture = fixture()?;
    let clone = fixture.clone_of("alpha");
    std::fs::write(
        clone.join("alpha/feature.py"),
        "NAME = \"alpha\"\nLOUD = True\n",
    )?;
    git(&clone, &["add", "alpha/feature.py"])?;
    git(
        &clone,
        &[
            "commit",
            "-q",
            "-m",
            "feat: \u{1b}]0;pwned\u{7}\u{1b}[31mred\r",
        ],
    )?;
    let planned = fixture.run(&["release", "plan", "alpha", "--mode", "staging"])?;
    assert!(planned.status.success(), "{}", describe(&planned));
    let printed = [planned.stdout.clone(), planned.stderr.clone()].concat();
    assert!(
        !printed
            .iter()
            .any(|b| *b == 0x1b || *b == 0x07 || *b == b'\r'),
        "{}",
        describe(&planned)
    );
    assert!(
        String::from_utf8_lossy(&printed).contains("\\u{1b}"),
        "the subject is shown, escaped: {}",
        describe(&planned)
    );
    Ok(())
}

/// Regression: the forge token went to any host a committed `hpm.yaml`
/// named, over plain http, even in a dry run. Now it goes only over https
/// (or to this machine), and only to the packages' own forge host unless
/// the user's environment names the API; the refusal says why, and no
/// request is made.
#[test]
fn a_committed_hpm_yaml_cannot_send_the_token_elsewhere() -> Result<()> {
    let fixture = fixture()?;
    let manifest = fixture.world.read("hpm.yaml")?;
    for (api, why) in [
        ("http://collector.example.net", "only over https"),
        (
            "https://collector.example.net",
            "hpm.yaml names `collector.example.net`",
        ),
    ] {
        fixture.world.write_manifest(&manifest.replace(
            "  forge: github\n",
            &format!("  forge: github\n  api: {api}\n"),
        ))?;
        let made = fixture
            .hpmctl(&["--json", "release", "plan", "alpha", "--mode", "staging"])
            .env_remove("HPM_FORGE_API")
            .output()?;
        assert!(made.status.success(), "{}", describe(&made));
        let plan: Value = serde_json::from_slice(&made.stdout)?;
        let id = plan["id"].as_str().context("the plan's id")?;
        for dry_run in [true, false] {
            let mut args = vec!["--json"];
            if dry_run {
                args.push("--dry-run");
            }
            args.extend(["release", "apply", id, "--yes", "--notes", "auto"]);
            let refused = fixture.hpmctl(&args).env_remove("HPM_FORGE_API").output()?;
            assert!(!refused.status.success(), "{api}: {}", describe(&refused));
            let said = format!("{}{}", stdout(&refused), stderr(&refused));
            assert!(
                said.contains("`GITHUB_TOKEN` is not sent to") && said.contains(why),
                "{api}: {}",
                describe(&refused)
            );
            assert!(!said.contains(TOKEN), "{api}: the token was printed");
        }
        // Refused in the preflight: nothing was pushed.
        let tag = planned(&fixture, id)?["alpha"]["tag"]
            .as_str()
            .context("the tag")?
            .to_string();
        let tags = git_out(&fixture.remote("alpha"), &["tag", "--list"])?;
        assert!(
            !tags.lines().any(|line| line == tag),
            "{api}: {tag} was pushed"
        );
    }
    Ok(())
}

/// Regression: a kill during a release left `.hpm-tmp-*` (the new content
/// of one of hpm's atomic writes) in a clone, and the release took it for
/// the user's uncommitted work and stopped. hpm's own temporary files are
/// never the user's: the release goes on, and the file is not committed.
#[test]
fn hpms_own_temporary_files_are_not_taken_for_the_users_work() -> Result<()> {
    let fixture = fixture()?;
    let clone = fixture.clone_of("alpha");
    std::fs::write(clone.join(".hpm-tmp-Xy12ab"), "half of a write\n")?;
    let id = fixture.plan(&["alpha", "--mode", "staging"])?;
    let (output, _) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    let tag = planned(&fixture, &id)?["alpha"]["tag"]
        .as_str()
        .context("the tag")?
        .to_string();
    let files = git_out(
        &fixture.remote("alpha"),
        &["ls-tree", "-r", "--name-only", &tag],
    )?;
    assert!(!files.contains(".hpm-tmp-"), "{files}");
    Ok(())
}

/// Regression: a resume whose preflight failed (here: a change to a
/// tracked file of a package not yet committed, which the plan did not
/// see) said "nothing was changed" although an earlier run had published
/// part of the release. It is partly done: exit 4, the problem named, and
/// the resume that finishes once it is fixed.
#[test]
fn a_failed_preflight_of_a_begun_release_never_says_nothing_changed() -> Result<()> {
    let fixture = fixture()?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging"])?;
    let crashed = fixture
        .hpmctl(&["release", "apply", &id, "--yes", "--notes", "auto"])
        .env(hpm_engine::ops::release::CRASH_AFTER, "alpha:publish")
        .output()?;
    assert!(crashed.status.code().is_none(), "{}", describe(&crashed));
    let feature = fixture
        .clone_of("beta")
        .join(hpm_tests::module_name("beta"))
        .join("feature.py");
    let committed = std::fs::read(&feature)?;
    std::fs::write(&feature, "NAME = \"changed after the plan\"\n")?;
    let resumed = fixture.run(&["release", "resume", &id, "--yes", "--notes", "auto"])?;
    assert_eq!(resumed.status.code(), Some(4), "{}", describe(&resumed));
    let said = stdout(&resumed);
    assert!(
        said.contains("feature.py")
            && !said.contains("nothing was changed")
            && said.contains(&format!("hpmctl release resume {id}")),
        "{}",
        describe(&resumed)
    );
    std::fs::write(&feature, committed)?;
    let (output, report) = fixture.apply(&id, false)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(report["outcome"], "complete");
    Ok(())
}
