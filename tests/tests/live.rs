//! End-to-end tests of the live environment: the real `hpmd` watching a
//! workspace, with nothing asked of it, follows saves of `hpm.yaml` (by
//! rename as vim does, and in place), reports invalid saves, coalesces
//! bursts, ignores its own writes, sees a dev clone's commits, branch
//! switches and edits, and falls back to polling at the watch limit.

use std::path::Path;
use std::time::Duration;

use hpm_tests::{
    describe, gated_uv, git, inotify_watches, module_name, stderr, stdout, wait_for, EventStream,
    Gate, Release, World,
};
use serde_json::Value;

const ONE_PLUGIN: &str = "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a]\n";
const TWO_PLUGINS: &str =
    "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\n";

/// Two plugins with dev clones; the manifest names only `plugin-a`; synced
/// through the world's daemon.
fn synced_world() -> anyhow::Result<World> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.write_manifest(ONE_PLUGIN)?;
    world.ok(&["sync"])?;
    Ok(world)
}

fn status(world: &World) -> anyhow::Result<Value> {
    let output = world.ok(&["status", "--json"])?;
    serde_json::from_str(&stdout(&output))
        .map_err(|e| anyhow::anyhow!("not JSON ({e}):\n{}", describe(&output)))
}

/// Saves a file the way vim does: write a temp file beside it, rename it over.
fn save_by_rename(path: &Path, text: &str) -> anyhow::Result<()> {
    let temp = path.with_extension("yaml.swp-hpm-test");
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

#[test]
fn saving_the_manifest_by_rename_or_in_place_resyncs_the_environment() -> anyhow::Result<()> {
    let world = synced_world()?;
    let events = EventStream::follow(&world)?;

    let mark = events.len();
    save_by_rename(&world.core().join("hpm.yaml"), TWO_PLUGINS)?;
    events.wait_job_finished(mark, "the resync after a save by rename")?;
    assert!(
        world.read("pyproject.toml")?.contains("plugin-b"),
        "the job that finished added plugin-b: {:#?}",
        events.since(mark)
    );
    assert_eq!(world.imported_version("plugin-b")?, "1.1.0.dev0");

    let mark = events.len();
    std::fs::write(
        world.core().join("hpm.yaml"),
        TWO_PLUGINS.replace("[plugin-a, plugin-b]", "[plugin-b]"),
    )?;
    events.wait_job_finished(mark, "the resync after an in-place save")?;
    assert!(!world.read("pyproject.toml")?.contains("plugin-a"));
    Ok(())
}

#[test]
fn an_invalid_save_is_reported_with_its_line_and_fixing_it_resyncs() -> anyhow::Result<()> {
    let world = synced_world()?;
    let events = EventStream::follow(&world)?;
    let pyproject = world.bytes("pyproject.toml");
    let lock = world.bytes("uv.lock");

    let mark = events.len();
    std::fs::write(
        world.core().join("hpm.yaml"),
        "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a\n",
    )?;
    let invalid = events.wait(mark, "manifest_invalid", |e| {
        e["event"] == "manifest_invalid"
    })?;
    let problem = &invalid["problems"][0];
    assert!(
        problem["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("hpm.yaml"))
            && problem["line"].as_u64().is_some(),
        "the problem names the file and line: {invalid:#}"
    );
    // A second invalid save, reported after the first was fully handled,
    // then the barrier: no reconcile was queued for either.
    let second = events.len();
    std::fs::write(
        world.core().join("hpm.yaml"),
        "version: 1\nmode: [\n# again\n",
    )?;
    events.wait(second, "the second manifest_invalid", |e| {
        e["event"] == "manifest_invalid"
    })?;
    let jobs = events.jobs_before_barrier(&world, mark)?;
    assert!(
        jobs.is_empty(),
        "no reconcile runs on an invalid manifest: {jobs:#?}"
    );
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    assert_eq!(world.bytes("uv.lock"), lock);

    let mark = events.len();
    std::fs::write(world.core().join("hpm.yaml"), TWO_PLUGINS)?;
    events.wait(mark, "manifest_valid", |e| e["event"] == "manifest_valid")?;
    events.wait_job_finished(mark, "the resync after the fix")?;
    assert!(world.read("pyproject.toml")?.contains("plugin-b"));
    Ok(())
}

#[test]
fn a_burst_of_saves_costs_at_most_two_reconciles() -> anyhow::Result<()> {
    let world = synced_world()?;
    let events = EventStream::follow(&world)?;
    let mark = events.len();
    // 20 saves within 2 seconds, alternating between two plans.
    for i in 0..20 {
        let text = if i % 2 == 1 { TWO_PLUGINS } else { ONE_PLUGIN };
        std::fs::write(world.core().join("hpm.yaml"), format!("# save {i}\n{text}"))?;
        std::thread::sleep(Duration::from_millis(100));
    }
    // The last save names both plugins; wait until the environment has it.
    wait_for("the environment to follow the last save", || {
        status(&world).is_ok_and(|s| {
            s["in_sync"] == true && s["packages"].as_array().is_some_and(|p| p.len() == 2)
        })
    })?;
    // A comment-only save re-reads the same plan (status_changed, no
    // reconcile) once any settling burst has fired; then the barrier.
    let quiet = events.len();
    std::fs::write(
        world.core().join("hpm.yaml"),
        format!("# quiet\n{TWO_PLUGINS}"),
    )?;
    events.wait(quiet, "the comment-only save to be read", |e| {
        e["event"] == "status_changed"
    })?;
    let started = events.jobs_before_barrier(&world, mark)?.len();
    assert!(
        (1..=2).contains(&started),
        "{started} reconciles for a burst of 20 saves: {:#?}",
        events.since(mark)
    );
    assert!(world.read("pyproject.toml")?.contains("plugin-b"));
    Ok(())
}

#[test]
fn the_daemons_own_writes_do_not_trigger_a_resync() -> anyhow::Result<()> {
    let world = synced_world()?;
    let events = EventStream::follow(&world)?;
    let mark = events.len();
    // A switch rewrites pyproject.toml; a group edit rewrites hpm.yaml.
    world.ok(&["switch", "prod"])?;
    // A comment-only save, read after the switch's own write was reported.
    let quiet = events.len();
    let manifest = world.read("hpm.yaml")?;
    std::fs::write(
        world.core().join("hpm.yaml"),
        format!("# quiet\n{manifest}"),
    )?;
    events.wait(quiet, "the comment-only save to be read", |e| {
        e["event"] == "status_changed"
    })?;
    let started = events.jobs_before_barrier(&world, mark)?;
    assert_eq!(started.len(), 1, "only the switch ran: {started:#?}");
    assert_eq!(started[0]["change"]["kind"], "switch");
    Ok(())
}

#[test]
fn a_dev_clones_edit_commit_and_branch_switch_are_seen_without_a_command() -> anyhow::Result<()> {
    let world = synced_world()?;
    let events = EventStream::follow(&world)?;
    let clone = world.core().join("packages/plugin-a");
    let repo_changed = |field: &'static str| {
        move |e: &Value| {
            e["event"] == "repo_changed"
                && e["package"] == "plugin-a"
                && e["changed"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|f| f == field))
        }
    };

    let mark = events.len();
    let module = clone.join(module_name("plugin-a")).join("__init__.py");
    std::fs::write(&module, "VERSION = \"1.1.0.dev0\"\nEDITED = True\n")?;
    let event = events.wait(mark, "the clone to turn dirty", repo_changed("dirty"))?;
    assert_eq!(event["repo"]["dirty"], true);
    let repo = &status(&world)?["packages"][0]["repo"];
    assert_eq!(repo["dirty"], true, "status follows: {repo:#}");

    let mark = events.len();
    git(&clone, &["commit", "-q", "-am", "an edit"])?;
    let event = events.wait(mark, "the commit", repo_changed("head"))?;
    let after = events.since(mark);
    assert!(
        after
            .iter()
            .any(|e| repo_changed("dirty")(e) && e["repo"]["dirty"] == false),
        "the clone is clean again: {after:#?}"
    );
    let head = event["repo"]["head"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let repo = &status(&world)?["packages"][0]["repo"];
    assert_eq!(repo["head"], head.as_str());
    assert_eq!(
        repo["ahead"], 1,
        "one commit ahead of origin/main: {repo:#}"
    );

    let mark = events.len();
    git(&clone, &["checkout", "-q", "-b", "feature"])?;
    let event = events.wait(mark, "the branch switch", repo_changed("branch"))?;
    assert_eq!(event["repo"]["branch"], "feature");
    assert_eq!(status(&world)?["packages"][0]["repo"]["branch"], "feature");
    assert!(
        events
            .since(mark)
            .iter()
            .any(|e| e["event"] == "status_changed"),
        "status_changed accompanies repo_changed"
    );
    Ok(())
}

/// The moment after a save, before the watcher's debounce has passed, a
/// status (which `hpmctl status` asks to be fresh) already shows it; and the
/// watcher still announces the change to everyone else afterwards. Each is
/// answered by settling the watcher with a sync cookie, not by reading
/// every clone's work tree again (the daemon's log says which).
#[test]
fn a_status_right_after_a_save_in_a_clone_is_already_right() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.write_manifest(ONE_PLUGIN)?;
    let state = world.root().join("state");
    world.start_logging_daemon(&state, "debug")?;
    world.ok(&["sync"])?;
    let events = EventStream::follow(&world)?;
    let clone = world.core().join("packages/plugin-a");
    let module = clone.join(module_name("plugin-a")).join("__init__.py");
    let original = std::fs::read_to_string(&module)?;
    assert_eq!(status(&world)?["packages"][0]["repo"]["dirty"], false);
    for round in 0..10 {
        let mark = events.len();
        std::fs::write(&module, format!("{original}ROUND = {round}\n"))?;
        let repo = &status(&world)?["packages"][0]["repo"];
        assert_eq!(repo["dirty"], true, "round {round}, just saved: {repo:#}");
        events.wait(mark, "the watcher to report the edit", |e: &Value| {
            e["event"] == "repo_changed" && e["repo"]["dirty"] == true
        })?;

        let mark = events.len();
        std::fs::write(&module, &original)?;
        let repo = &status(&world)?["packages"][0]["repo"];
        assert_eq!(repo["dirty"], false, "round {round}, restored: {repo:#}");
        events.wait(mark, "the watcher to report the clean tree", |e: &Value| {
            e["event"] == "repo_changed" && e["repo"]["dirty"] == false
        })?;
    }
    let log = std::fs::read_to_string(state.join("hpm/hpmd.log"))?;
    let settled = log.matches("a fresh status: the watcher settled").count();
    assert_eq!(settled, 21, "each status settled the watcher:\n{log}");
    assert!(!log.contains("reading every clone"), "{log}");
    Ok(())
}

#[test]
fn at_the_watch_limit_the_workspace_is_polled_and_still_follows_saves() -> anyhow::Result<()> {
    let world = synced_world()?;
    world.start_polled_daemon()?;
    let events = EventStream::follow(&world)?;
    let mark = events.len();
    // A save that keeps the file's modification time, as one in the same
    // second as the poller's last look does (it keeps mtimes in seconds):
    // only its contents say it changed.
    let manifest = world.core().join("hpm.yaml");
    let modified = std::fs::metadata(&manifest)?.modified()?;
    std::fs::write(&manifest, TWO_PLUGINS)?;
    std::fs::File::options()
        .write(true)
        .open(&manifest)?
        .set_modified(modified)?;
    events.wait_job_finished(mark, "the resync seen by polling")?;
    assert!(world.read("pyproject.toml")?.contains("plugin-b"));
    Ok(())
}

#[test]
fn a_daemon_under_the_limit_watches_natively() -> anyhow::Result<()> {
    let world = synced_world()?;
    wait_for("the watches to be set", || {
        status(&world).is_ok_and(|s| s["watching"] == "native")
    })
}

/// A registry kept in git: a work repository under `registry-src` pushed to
/// the bare `remotes/registry.git`; `publish` commits and pushes an entry.
struct GitRegistry {
    work: std::path::PathBuf,
    url: String,
}

impl GitRegistry {
    fn new(world: &World) -> anyhow::Result<GitRegistry> {
        let work = world.root().join("registry-src");
        std::fs::create_dir_all(work.join("packages"))?;
        git(&work, &["init", "-q", "-b", "main"])?;
        let bare = world.root().join("remotes/registry.git");
        std::fs::create_dir_all(&bare)?;
        git(&bare, &["init", "-q", "--bare", "-b", "main"])?;
        git(
            &work,
            &["remote", "add", "origin", &bare.display().to_string()],
        )?;
        Ok(GitRegistry {
            work,
            url: format!("file://{}", bare.display()),
        })
    }

    fn publish(&self, world: &World, name: &str, prod_tag: &str) -> anyhow::Result<()> {
        let url = world.remote_url(name);
        std::fs::write(
            self.work.join("packages").join(format!("{name}.yaml")),
            format!(
                "name: {name}\nrepo: {url}\nsources:\n  dev:  {{ type: local, path: ./packages/{name} }}\n  prod: {{ type: git, url: \"{url}\", ref: {prod_tag} }}\n"
            ),
        )?;
        git(&self.work, &["add", "-A"])?;
        git(
            &self.work,
            &["commit", "-q", "-m", &format!("{name} at {prod_tag}")],
        )?;
        git(&self.work, &["push", "-q", "origin", "main"])
    }
}

#[test]
fn a_git_registry_is_pinned_updated_on_request_and_read_offline_from_the_cache(
) -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin(
        "plugin-a",
        &[
            Release::new("v1.0.0", "1.0.0"),
            Release::new("v1.2.0", "1.2.0"),
        ],
    )?;
    world.add_plugin("plugin-b", &[Release::new("v1.0.0", "1.0.0")])?;
    let registry = GitRegistry::new(&world)?;
    registry.publish(&world, "plugin-a", "v1.0.0")?;
    world.write_manifest(&format!(
        "version: 1\nmode: prod\nregistry: {{ git: \"{}\", ref: main }}\nsettings: {{ auto_sync: false }}\npackages: [plugin-a]\n",
        registry.url
    ))?;
    world.ok(&["sync"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.0.0");

    // Upstream moves prod to v1.2.0 and adds plugin-b: the pin holds.
    registry.publish(&world, "plugin-a", "v1.2.0")?;
    registry.publish(&world, "plugin-b", "v1.0.0")?;
    world.ok(&["sync", "--force"])?;
    assert_eq!(
        world.imported_version("plugin-a")?,
        "1.0.0",
        "the pin holds until an update"
    );

    let events = EventStream::follow(&world)?;
    let mark = events.len();
    let report: Value =
        serde_json::from_str(&stdout(&world.ok(&["registry", "update", "--json"])?))?;
    let update = &report[0];
    assert_eq!(update["url"], registry.url.as_str());
    assert_eq!(update["added"], serde_json::json!(["plugin-b"]));
    let moved = &update["moved"][0];
    assert_eq!(moved["package"], "plugin-a");
    assert_eq!(moved["mode"], "prod");
    assert!(
        moved["to"]
            .as_str()
            .is_some_and(|to| to.ends_with("@v1.2.0")),
        "{moved:#}"
    );
    events.wait(mark, "registry_updated", |e| {
        e["event"] == "registry_updated"
    })?;
    let human = stdout(&world.ok(&["registry", "update"])?);
    assert!(
        human.contains("already at"),
        "a second update has nothing to move: {human}"
    );

    world.ok(&["sync"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.2.0");

    // Offline: the registry's remote is gone; a fresh daemon still reads
    // the pinned commit from the cache.
    std::fs::rename(
        world.root().join("remotes/registry.git"),
        world.root().join("remotes/registry.git.gone"),
    )?;
    world.ok(&["daemon", "stop"])?;
    let status = status(&world)?;
    assert_eq!(
        status["packages"][0]["source"]["url"],
        world.remote_url("plugin-a").as_str(),
        "{status:#}"
    );
    world.ok(&["sync", "--force"])?;
    let failed = world.run(&["registry", "update"]);
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    assert!(
        describe(&failed).contains("cannot fetch registry"),
        "{}",
        describe(&failed)
    );
    Ok(())
}

#[test]
fn processes_opening_a_fresh_git_registry_at_once_all_succeed() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin("plugin-a", &[Release::new("v1.0.0", "1.0.0")])?;
    let registry = GitRegistry::new(&world)?;
    registry.publish(&world, "plugin-a", "v1.0.0")?;
    world.write_manifest(&format!(
        "version: 1\nmode: prod\nregistry: {{ git: \"{}\" }}\npackages: [plugin-a]\n",
        registry.url
    ))?;
    // Each reads the registry, which its first reader clones into the
    // shared cache: git refuses two fetches of one repository at a time.
    let readers: Vec<_> = (0..6)
        .map(|_| {
            world
                .hpmctl_in_process()
                .args(["status", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for reader in readers {
        let output = reader.wait_with_output()?;
        assert!(output.status.success(), "{}", describe(&output));
        let status: Value = serde_json::from_str(&stdout(&output))?;
        assert_eq!(
            status["packages"][0]["source"]["url"],
            world.remote_url("plugin-a").as_str()
        );
    }
    Ok(())
}

#[test]
fn a_local_registry_folder_listed_first_overlays_a_git_registry() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin(
        "plugin-a",
        &[
            Release::new("v1.0.0", "1.0.0"),
            Release::new("v1.2.0", "1.2.0"),
        ],
    )?;
    let registry = GitRegistry::new(&world)?;
    registry.publish(&world, "plugin-a", "v1.0.0")?;
    // The local folder pins plugin-a to v1.2.0 and wins.
    world.register("plugin-a", "v1.2.0", "v1.2.0")?;
    world.write_manifest(&format!(
        "version: 1\nmode: prod\nregistry:\n  - ./hpm-registry\n  - {{ git: \"{}\" }}\npackages: [plugin-a]\n",
        registry.url
    ))?;
    world.ok(&["sync"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.2.0");
    // Without the overlay, the git registry's entry applies.
    std::fs::remove_file(world.core().join("hpm-registry/plugin-a.yaml"))?;
    world.ok(&["sync"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.0.0");
    Ok(())
}

#[test]
fn dev_clones_with_progress_keeps_an_existing_dirty_clone_and_status_lists_unused_clones(
) -> anyhow::Result<()> {
    let world = synced_world()?;
    world.write_manifest(TWO_PLUGINS)?;
    world.ok(&["switch", "prod"])?;
    let unused = status(&world)?["unused_clones"].clone();
    let paths: Vec<&str> = unused
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["repo"]["path"].as_str())
        .collect();
    assert_eq!(paths.len(), 2, "both clones are unused in prod: {unused:#}");
    assert!(unused
        .as_array()
        .into_iter()
        .flatten()
        .all(|c| c["package"] == "plugin-a" || c["package"] == "plugin-b"));

    // An existing clone with uncommitted changes is used as it is.
    let module = world
        .core()
        .join("packages/plugin-a")
        .join(module_name("plugin-a"))
        .join("__init__.py");
    std::fs::write(&module, "VERSION = \"local edit\"\n")?;
    let report: Value =
        serde_json::from_str(&stdout(&world.ok(&["dev", "plugin-a", "--yes", "--json"])?))?;
    assert_eq!(
        report["dirty_clones"],
        serde_json::json!(["packages/plugin-a"])
    );
    assert_eq!(
        std::fs::read_to_string(&module)?,
        "VERSION = \"local edit\"\n"
    );
    assert_eq!(world.imported_version("plugin-a")?, "local edit");

    // A missing clone is cloned through libgit2, with progress events.
    std::fs::remove_dir_all(world.core().join("packages/plugin-b"))?;
    let events = EventStream::follow(&world)?;
    let mark = events.len();
    world.ok(&["dev", "plugin-b", "--yes"])?;
    events.wait(mark, "clone progress", |e| {
        e["event"] == "progress"
            && e["line"]
                .as_str()
                .is_some_and(|l| l.starts_with("cloning plugin-b: 100%"))
    })?;
    assert_eq!(world.imported_version("plugin-b")?, "1.1.0.dev0");
    assert!(status(&world)?["unused_clones"]
        .as_array()
        .is_some_and(Vec::is_empty));
    Ok(())
}

fn daemon_hello(world: &World) -> anyhow::Result<Value> {
    let output = world.ok(&["daemon", "status", "--json"])?;
    let status: Value = serde_json::from_str(&stdout(&output))?;
    Ok(status["hello"].clone())
}

#[test]
fn an_idle_workspace_is_closed_its_watches_released_and_reopened_on_use() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.write_manifest(ONE_PLUGIN)?;
    let output = world
        .hpmctl()
        .args(["daemon", "start"])
        .env("HPM_WORKSPACE_IDLE", "2")
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    let pid = daemon_hello(&world)?["pid"].as_u64().unwrap_or_default() as u32;
    world.ok(&["sync"])?;
    let core = world.core().display().to_string();
    assert_eq!(
        daemon_hello(&world)?["workspaces"],
        serde_json::json!([core])
    );
    // The daemon's own watch, its sync cookies' folder, is held throughout.
    const OWN: usize = 1;
    wait_for("the workspace's watches", || inotify_watches(pid) > OWN)?;

    // Closing needs quiet: reads of watched files (the daemon's own, git's,
    // Python's imports from the clone) must not count as changes.
    wait_for("the idle workspace to close", || {
        daemon_hello(&world).is_ok_and(|hello| hello["workspaces"] == serde_json::json!([]))
    })?;
    wait_for("its watches to be released", || inotify_watches(pid) == OWN)?;

    // The next request reopens it from its files, watches and all.
    let status = status(&world)?;
    assert_eq!(status["packages"][0]["repo"]["branch"], "main");
    assert_eq!(
        daemon_hello(&world)?["workspaces"],
        serde_json::json!([core])
    );
    wait_for("the reopened workspace's watches", || {
        inotify_watches(pid) > OWN
    })?;
    Ok(())
}

/// Regression: a `sync` asked right after a save of `hpm.yaml` streamed
/// the daemon's sync of that save (uv's install lines), then said only "up
/// to date": its own job had nothing left to do. It now says whose lines
/// those were.
#[test]
fn a_sync_behind_the_saves_sync_says_whose_uv_lines_it_showed() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    let hold = world.root().join("hold-uv");
    let started = world.root().join("uv.pid");
    let gated = gated_uv(world.root(), Gate::While(&hold), &started)?;
    let synced = world.hpmctl().env("HPM_UV", &gated).arg("sync").output()?;
    anyhow::ensure!(synced.status.success(), "{}", describe(&synced));
    std::fs::remove_file(&started)?;

    // The save: its sync waits in uv until the test lets it go.
    std::fs::write(&hold, "")?;
    let manifest = world.read("hpm.yaml")?;
    world.write_manifest(&format!(
        "{manifest}settings:\n  uv_args: [\"--no-progress\"]\n"
    ))?;
    wait_for("the save's sync to reach uv", || started.exists())?;
    let asked = world
        .hpmctl()
        .env("HPM_UV", &gated)
        .arg("sync")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Time for this sync to queue behind the save's (held in uv).
    std::thread::sleep(Duration::from_secs(2));
    std::fs::remove_file(&hold)?;
    let asked = asked.wait_with_output()?;
    assert!(asked.status.success(), "{}", describe(&asked));
    let said = stdout(&asked);
    assert!(
        stderr(&asked).contains("Installed") || stderr(&asked).contains("Resolved"),
        "the save's uv lines were shown: {}",
        describe(&asked)
    );
    assert!(
        said.contains("up to date")
            && said
                .contains("the uv lines above are the daemon's sync of a change saved just before"),
        "{}",
        describe(&asked)
    );
    world.ok(&["daemon", "stop"])?;
    Ok(())
}
