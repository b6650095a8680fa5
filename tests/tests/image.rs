//! `hpmctl image build` for real: a fixture product whose plugins are
//! pinned to tags on `file://` remotes, built into its prod image by a real
//! dockerd (BuildKit) with a hermetic network, run, rebuilt after a code
//! change, pushed to a real local registry, cancelled mid-build.
//!
//! The engine, its base images and the registry come from `tests/image-tools`
//! (tests/run sources it as root, CI's case; see [`hpm_tests::image`]).
//! Without them the tests fail, saying so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use hpm_tests::git_http::GitHttpServer;
use hpm_tests::image::{product, write_app, Engine};
use hpm_tests::{describe, git, stderr, stdout, wait_for, Release};
use serde_json::Value;

fn json(output: &Output) -> Result<Value> {
    serde_json::from_str(&stdout(output))
        .with_context(|| format!("not JSON:\n{}", describe(output)))
}

/// Every file under `dir`, with its bytes (the `.hpm/` and `.git/` of
/// hpm's and git's own bookkeeping left out), for "nothing changed".
fn tree(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default();
            if name == ".hpm" || name == ".git" || name == ".venv" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path)?));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The steps of a plain-progress build log that BuildKit took from its
/// cache, as `(step number, its title)`.
fn cached_steps(log: &str) -> Vec<String> {
    let mut titles = std::collections::BTreeMap::new();
    let mut cached = Vec::new();
    for line in log.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((number, text)) = rest.split_once(' ') else {
            continue;
        };
        if text.starts_with('[') {
            titles.insert(number.to_string(), text.to_string());
        } else if text == "CACHED" {
            cached.push(titles.get(number).cloned().unwrap_or_default());
        }
    }
    cached
}

#[test]
#[ignore = "needs a container engine, base images and a registry (tests/image-tools, as root)"]
fn the_prod_image_is_built_run_rebuilt_from_cache_and_pushed() -> Result<()> {
    let engine = Engine::from_env()?;
    let world = product()?;
    let core = world.core();
    git(
        &core,
        &[
            "remote",
            "add",
            "origin",
            "https://git.example.com/acme/core.git",
        ],
    )?;
    let repository = format!("{}/core-app", engine.registry);
    let tag = format!("{repository}:prod");
    let mut build = vec!["image".to_string(), "build".to_string()];
    build.extend(engine.build_args());
    build.extend(["--tag".to_string(), tag.clone(), "--push".to_string()]);
    let build: Vec<&str> = build.iter().map(String::as_str).collect();

    // A dry run says what it would run and changes nothing: no context,
    // no image, no file of the workspace.
    let before = tree(&core)?;
    let images_before = engine.image_ids()?;
    let dry = engine
        .hpmctl(&world, &[&["--dry-run", "--json"][..], &build].concat())
        .output()?;
    ensure!(dry.status.success(), "{}", describe(&dry));
    let dry = json(&dry)?;
    assert_eq!(dry["dry_run"], true, "{dry:#}");
    assert!(dry["commands"][0]
        .as_array()
        .is_some_and(|argv| argv.iter().any(|word| word == "--network")));
    assert!(
        !core.join(".hpm/image").exists(),
        "a dry run laid out a context"
    );
    assert_eq!(tree(&core)?, before);
    assert_eq!(engine.image_ids()?, images_before);

    // The build, through the daemon, its progress as events.
    let built = engine
        .hpmctl(&world, &[&["--json"][..], &build].concat())
        .output()?;
    ensure!(built.status.success(), "{}", describe(&built));
    let report = json(&built)?;
    let image = report["image_id"]
        .as_str()
        .context("an image id")?
        .to_string();
    assert!(image.starts_with("sha256:"), "{report:#}");
    assert!(
        report["size"].as_u64().is_some_and(|size| size > 0),
        "{report:#}"
    );
    let versions: Vec<(String, String)> = report["packages"]
        .as_array()
        .context("packages")?
        .iter()
        .filter(|package| package["managed"] == true)
        .map(|package| {
            (
                package["name"].as_str().unwrap_or_default().to_string(),
                package["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("plugin-a".to_string(), "1.0.0".to_string()),
            ("plugin-b".to_string(), "1.0.0".to_string())
        ]
    );
    assert!(
        stderr(&built).contains("\"event\":\"image_progress\""),
        "the engine's lines arrive as progress: {}",
        describe(&built)
    );
    assert_eq!(tree(&core)?, before, "the build changed the workspace");

    // The image runs the app, as non-root, with every package importable
    // and nothing of the build inside.
    let ran = engine.docker_ok(&["run", "--rm", "--network", "none", &image])?;
    assert_eq!(ran.trim(), "hello plugin-a 1.0.0 plugin-b 1.0.0");
    assert_eq!(
        engine
            .docker_ok(&["run", "--rm", "--network", "none", &image, "id", "-u"])?
            .trim(),
        "10001"
    );
    engine.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "python",
        "-c",
        "import plugin_a, plugin_b, core_app",
    ])?;
    let inside = engine.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "for c in uv uvx git; do command -v $c && echo \"has $c\"; done; \
         for p in /root/.cache/uv /app/src /app/pyproject.toml /app/uv.lock /src; do test -e $p && echo \"has $p\"; done; \
         ls -A /app",
    ])?;
    assert_eq!(stdout(&inside).trim(), ".venv", "{}", describe(&inside));

    // Its labels say what it is.
    let labels: Value = serde_json::from_str(&engine.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &image,
    ])?)?;
    let head = stdout(
        &Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&core)
            .output()?,
    );
    assert_eq!(labels["org.opencontainers.image.revision"], head.trim());
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://git.example.com/acme/core.git"
    );
    assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(labels["dev.hpm.mode"], "prod");

    // Pushed: the registry serves the manifest under the digest reported.
    let digest = report["pushed"][0]["digest"]
        .as_str()
        .context("a pushed digest")?;
    let manifest = Command::new("curl")
        .args([
            "-sSf",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            &format!("http://{}/v2/core-app/manifests/prod", engine.registry),
        ])
        .output()?;
    ensure!(manifest.status.success(), "{}", describe(&manifest));
    assert!(
        stdout(&manifest)
            .to_ascii_lowercase()
            .contains(&format!("docker-content-digest: {digest}")),
        "{}",
        describe(&manifest)
    );

    // A code change rebuilds only the last layers: the dependencies' step
    // comes from the cache, and the new image runs the new code.
    write_app(&core, "hello again")?;
    let rebuilt = engine.hpmctl(&world, &build).output()?;
    ensure!(rebuilt.status.success(), "{}", describe(&rebuilt));
    let cached = cached_steps(&stderr(&rebuilt));
    assert!(
        cached
            .iter()
            .any(|step| step.contains("--no-install-project")),
        "the dependencies' layer was rebuilt; cached: {cached:?}\n{}",
        describe(&rebuilt)
    );
    let ran = engine.docker_ok(&["run", "--rm", "--network", "none", &tag])?;
    assert_eq!(ran.trim(), "hello again plugin-a 1.0.0 plugin-b 1.0.0");
    Ok(())
}

#[test]
#[ignore = "needs a container engine, base images and a registry (tests/image-tools, as root)"]
fn a_stale_lock_fails_the_build_with_uvs_message_and_a_cancel_stops_it() -> Result<()> {
    let engine = Engine::from_env()?;
    let world = product()?;
    let core = world.core();
    let mut build = vec!["image".to_string(), "build".to_string()];
    build.extend(engine.build_args());
    build.extend(["--tag".to_string(), "core-app:stale".to_string()]);
    let build: Vec<&str> = build.iter().map(String::as_str).collect();

    // The supported Pythons narrowed by hand, never synced: the lock is
    // stale.
    let pyproject = world.read("pyproject.toml")?;
    let edited = pyproject.replace(
        "requires-python = \">=3.8\"",
        "requires-python = \">=3.10\"",
    );
    assert_ne!(edited, pyproject);
    std::fs::write(core.join("pyproject.toml"), &edited)?;
    // In-process: a daemon would sync the edit on its own.
    let stale = engine
        .hpmctl(&world, &[&["--no-daemon"][..], &build].concat())
        .output()?;
    assert!(!stale.status.success(), "{}", describe(&stale));
    let said = stderr(&stale);
    assert!(
        said.contains("needs to be updated") && said.contains("hpmctl sync"),
        "uv's message and hpm's hint: {}",
        describe(&stale)
    );
    std::fs::write(core.join("pyproject.toml"), &pyproject)?;

    // The team's own Dockerfile.hpm is used, and a cancel mid-build kills
    // the engine's processes.
    let mut write = vec![
        "image".to_string(),
        "dockerfile".to_string(),
        "--write".to_string(),
    ];
    write.extend(engine.build_args().into_iter().skip(2).take(8));
    let write: Vec<&str> = write.iter().map(String::as_str).collect();
    world.ok(&write)?;
    let written = world.read("Dockerfile.hpm")?;
    let slow = written.replacen(
        "FROM builder AS deps\n",
        "FROM builder AS deps\nRUN echo waiting-for-cancel && sleep 300\n",
        1,
    );
    assert_ne!(slow, written);
    std::fs::write(core.join("Dockerfile.hpm"), slow)?;
    let running = engine
        .hpmctl(&world, &[&["--json"][..], &build].concat())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid_file = core.join(".hpm/image/prod/engine.pid");
    wait_for("the engine to start", || pid_file.exists())?;
    let pid: i32 = std::fs::read_to_string(&pid_file)?
        .split_whitespace()
        .next()
        .context("a pid")?
        .parse()?;
    std::thread::sleep(std::time::Duration::from_secs(3));
    world.ok(&["cancel"])?;
    let cancelled = running.wait_with_output()?;
    assert_eq!(cancelled.status.code(), Some(1), "{}", describe(&cancelled));
    assert_eq!(json(&cancelled)?["error"]["kind"], "cancelled");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the engine's process {pid} outlived the cancel"
    );
    assert!(!pid_file.exists());
    // BuildKit stopped the step too (its container's `sleep`).
    wait_for("the build's step to stop", || {
        !Command::new("pgrep")
            .args(["-f", "sleep 300"])
            .status()
            .is_ok_and(|status| status.success())
    })?;
    let tagged = engine.docker(&["image", "inspect", "core-app:stale"])?;
    assert!(
        !tagged.status.success(),
        "a cancelled build tagged an image"
    );
    Ok(())
}

/// Regression: the image ignored how the workspace syncs: `settings.uv_args`
/// (`--extra cu124`) was not applied, and the base was `python:3.12-slim`
/// whatever `.python-version` said. The Dockerfile now installs the
/// extras and groups `switch prod` installs, on the project's Python, and
/// says where each came from and what it left out.
#[test]
fn the_dockerfile_installs_what_the_workspace_syncs_on_its_python() -> Result<()> {
    let world = product()?;
    let core = world.core();
    let python = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()?;
    let version = stdout(&python).trim().to_string();
    std::fs::write(core.join(".python-version"), format!("{version}\n"))?;
    let manifest = world.read("hpm.yaml")?;
    world.write_manifest(&format!(
        "{manifest}settings:\n  uv_args: [\"--no-progress\", \"--extra\", \"cu124\", \"--group=docs\"]\n"
    ))?;
    let printed = world.ok(&["--no-daemon", "image", "dockerfile"])?;
    let dockerfile = stdout(&printed);
    assert!(
        dockerfile.contains(&format!(
            "# base: python:{version}-slim, the Python `.python-version` names\n"
        )) && dockerfile.contains(&format!("FROM python:{version}-slim AS runtime")),
        "{dockerfile}"
    );
    let syncs: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.contains("uv sync "))
        .collect();
    assert!(
        !syncs.is_empty()
            && syncs
                .iter()
                .all(|line| line.ends_with("--extra cu124 --group=docs")),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains(
            "# left out of settings.uv_args (they do not choose what is installed): --no-progress"
        ),
        "{dockerfile}"
    );
    // A base named on the command line wins, and says nothing of it.
    let named = world.ok(&[
        "--no-daemon",
        "image",
        "dockerfile",
        "--base-image",
        "python:3.12-slim",
    ])?;
    assert!(
        stdout(&named).contains("FROM python:3.12-slim AS runtime")
            && !stdout(&named).contains("# base:"),
        "{}",
        describe(&named)
    );
    Ok(())
}

#[test]
fn a_missing_engine_is_named_with_what_to_do() -> Result<()> {
    let world = product()?;
    let missing = world
        .hpmctl()
        .args([
            "--no-daemon",
            "--json",
            "image",
            "build",
            "--engine",
            "no-such-engine-here",
        ])
        .output()?;
    assert_eq!(missing.status.code(), Some(1), "{}", describe(&missing));
    assert_eq!(json(&missing)?["error"]["kind"], "backend");
    let said = stdout(&missing);
    assert!(
        said.contains("no-such-engine-here") && said.contains("--engine"),
        "{}",
        describe(&missing)
    );
    assert!(!world.core().join(".hpm/image").exists());
    Ok(())
}

#[test]
#[ignore = "needs a container engine, base images and a registry (tests/image-tools, as root)"]
fn the_default_builder_copies_the_uv_hpm_runs_from_the_uv_image() -> Result<()> {
    // No --builder-image: the builder is the base with uv copied from
    // `ghcr.io/astral-sh/uv:<version>`, which tests/image-tools made from
    // the very uv binary (no registry reachable here). The base here has
    // git, so the builder needs no package index.
    let engine = Engine::from_env()?;
    let world = product()?;
    let uv = hpm_engine::uv::Uv::find()?;
    let built = engine
        .hpmctl(
            &world,
            &[
                "--json",
                "image",
                "build",
                "--engine",
                &engine.docker.display().to_string(),
                "--base-image",
                &engine.builder,
                "--python",
                "/usr/bin/python3",
                "--find-links",
                &engine.wheels.display().to_string(),
                "--network",
                "none",
                "--tag",
                "core-app:default-builder",
            ],
        )
        .output()?;
    ensure!(built.status.success(), "{}", describe(&built));
    let log = stderr(&built);
    assert!(
        log.contains(&format!("ghcr.io/astral-sh/uv:{}", uv.version)),
        "the uv image is pinned to the uv hpm runs ({}): {log}",
        uv.version
    );
    let ran = engine.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "core-app:default-builder",
    ])?;
    assert_eq!(ran.trim(), "hello plugin-a 1.0.0 plugin-b 1.0.0");
    Ok(())
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
#[ignore = "needs a container engine, base images and a registry (tests/image-tools, as root)"]
fn a_private_https_source_is_fetched_with_a_token_that_reaches_no_layer() -> Result<()> {
    let engine = Engine::from_env()?;
    let world = product()?;
    let core = world.core();
    // plugin-c lives on a server that refuses anyone without the token.
    world.add_plugin("plugin-c", &[Release::new("v1.0.0", "1.0.0")])?;
    let token = format!("hpm-secret-{}-{}", std::process::id(), nanos());
    let server = GitHttpServer::start(
        &world.root().join("remotes"),
        &token,
        &world.root().join("git-http"),
    )?;
    let url = server.url("plugin-c.git");
    world.write_registry_entry(
        "plugin-c",
        &format!(
            "name: plugin-c\nrepo: {url}\nsources:\n  dev:     {{ type: local, path: ./packages/plugin-c, editable: true }}\n  staging: {{ type: git, url: \"{url}\", ref: v1.0.0 }}\n  prod:    {{ type: git, url: \"{url}\", ref: v1.0.0 }}\n"
        ),
    )?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b, plugin-c]\n",
    )?;
    // The host's git has the token through its own credential helper (the
    // daemon that syncs inherits it); the build must get it from hpm.
    let state = world.root().join("state");
    let git_env = server.git_env(&token)?;
    let daemon_env = |command: &mut Command| {
        command
            .env("HPM_LOG", "trace")
            .env("XDG_STATE_HOME", &state)
            .env_remove("HPM_GIT_TOKEN");
        for (key, value) in &git_env {
            command.env(key, value);
        }
    };
    let mut sync = engine.hpmctl(&world, &["sync"]);
    daemon_env(&mut sync);
    let synced = sync.output()?;
    ensure!(synced.status.success(), "{}", describe(&synced));
    let lock = world.read("uv.lock")?;
    assert!(
        lock.contains(&url),
        "plugin-c locked from the server:\n{lock}"
    );
    ensure!(server.authorised() > 0, "{:?}", server.requests());

    // The builder trusts the server's certificate, as a team's builder
    // image trusts its company's CA.
    let builder = format!("hpm-test/builder-ca:{}", std::process::id());
    let ca_context = world.root().join("builder-ca");
    std::fs::create_dir_all(&ca_context)?;
    std::fs::copy(&server.certificate, ca_context.join("ca.pem"))?;
    std::fs::write(
        ca_context.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY ca.pem /etc/hpm-test-ca.pem\nENV GIT_SSL_CAINFO=/etc/hpm-test-ca.pem\n",
            engine.builder
        ),
    )?;
    engine.docker_ok(&[
        "build",
        "--network",
        "none",
        "--tag",
        &builder,
        &ca_context.display().to_string(),
    ])?;
    let mut build = vec!["image".to_string(), "build".to_string()];
    build.extend(engine.build_args());
    let at = build
        .iter()
        .position(|arg| arg == "--builder-image")
        .context("--builder-image")?;
    build[at + 1] = builder.clone();
    let network = build
        .iter()
        .position(|arg| arg == "--network")
        .context("--network")?;
    build[network + 1] = "host".to_string();
    build.extend(["--tag".to_string(), "core-app:private".to_string()]);
    let build: Vec<&str> = build.iter().map(String::as_str).collect();

    // Without a token the server refuses the build's git, and hpm says
    // what to give it.
    let mut refused = engine.hpmctl(&world, &build);
    daemon_env(&mut refused);
    let refused = refused.output()?;
    assert!(!refused.status.success(), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("HPM_GIT_TOKEN"),
        "the hint names the variable: {}",
        describe(&refused)
    );
    let before = server.authorised();

    // With it, the build fetches plugin-c over HTTP with the token.
    let mut given = engine.hpmctl(&world, &[&["--json"][..], &build].concat());
    daemon_env(&mut given);
    let given = given.env("HPM_GIT_TOKEN", &token).output()?;
    ensure!(given.status.success(), "{}", describe(&given));
    assert!(
        server.authorised() > before,
        "the build never fetched with the token: {:?}",
        server.requests()
    );
    let report = json(&given)?;
    let image = report["image_id"].as_str().context("an image id")?;
    assert!(
        report["commands"][0].as_array().is_some_and(|argv| argv
            .iter()
            .any(|word| word == "id=git_token,env=HPM_GIT_TOKEN")),
        "{report:#}"
    );
    let ran = engine.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "python",
        "-c",
        "import plugin_c; print(plugin_c.VERSION)",
    ])?;
    assert_eq!(ran.trim(), "1.0.0");

    // The token is nowhere: not in the image's history or any layer, the
    // build context, the report, the workspace, the lock or the daemon's
    // trace log.
    let history = engine.docker_ok(&["history", "--no-trunc", image])?;
    assert!(!history.contains(&token), "{history}");
    let saved = world.root().join("image.tar");
    engine.docker_ok(&["save", "--output", &saved.display().to_string(), image])?;
    assert!(!contains(&std::fs::read(&saved)?, token.as_bytes()));
    std::fs::remove_file(&saved)?;
    for (path, bytes) in tree(&core)? {
        assert!(!contains(&bytes, token.as_bytes()), "{}", path.display());
    }
    for (path, bytes) in tree(&core.join(".hpm/image"))? {
        assert!(!contains(&bytes, token.as_bytes()), "{}", path.display());
    }
    assert!(!stdout(&given).contains(&token) && !stderr(&given).contains(&token));
    let log = std::fs::read_to_string(state.join("hpm/hpmd.log"))?;
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "HPM_LOG=trace took no effect"
    );
    let leaked: Vec<&str> = log.lines().filter(|line| line.contains(&token)).collect();
    assert!(
        leaked.is_empty(),
        "the daemon logged the token: {leaked:#?}"
    );
    Ok(())
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs a container engine, base images and a registry (tests/image-tools, as root)"]
fn podman_builds_runs_and_pushes_the_same_image() -> Result<()> {
    let engine = Engine::from_env()?;
    let podman = std::env::var("HPM_TEST_PODMAN").context(
        "HPM_TEST_PODMAN is not set: tests/image-tools installs Podman and configures its storage",
    )?;
    let world = product()?;
    let tag = format!("{}/core-app:podman", engine.registry);
    let mut build = vec![
        "--json".to_string(),
        "image".to_string(),
        "build".to_string(),
    ];
    build.extend(engine.build_args());
    let at = build
        .iter()
        .position(|arg| arg == "--engine")
        .context("--engine")?;
    build[at + 1] = podman.clone();
    build.extend(["--tag".to_string(), tag.clone(), "--push".to_string()]);
    let build: Vec<&str> = build.iter().map(String::as_str).collect();
    let built = engine.hpmctl(&world, &build).output()?;
    ensure!(built.status.success(), "{}", describe(&built));
    let report = json(&built)?;
    // Podman's own flags: no BuildKit `--progress`, the digest from a file.
    let argv = report["commands"].to_string();
    assert!(!argv.contains("--progress"), "{argv}");
    assert!(argv.contains("--digestfile"), "{argv}");
    let image = report["image_id"].as_str().context("an image id")?;
    let podman_ok = |args: &[&str]| -> Result<String> {
        let output = Command::new(&podman).args(args).output()?;
        ensure!(
            output.status.success(),
            "podman {args:?}: {}",
            describe(&output)
        );
        Ok(stdout(&output))
    };
    let ran = podman_ok(&["run", "--rm", "--network", "none", image])?;
    assert_eq!(ran.trim(), "hello plugin-a 1.0.0 plugin-b 1.0.0");
    let uid = podman_ok(&["run", "--rm", "--network", "none", image, "id", "-u"])?;
    assert_eq!(uid.trim(), "10001");
    let inside = podman_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "for c in uv git; do command -v $c && echo has $c; done; ls -A /app",
    ])?;
    assert_eq!(inside.trim(), ".venv");

    // The registry has the manifest under the digest Podman wrote.
    let digest = report["pushed"][0]["digest"]
        .as_str()
        .context("a pushed digest")?;
    assert!(digest.starts_with("sha256:"), "{report:#}");
    let manifest = Command::new("curl")
        .args(["-sSf", "-o", "/dev/null", "-w", "%{http_code}"])
        .args([
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg(format!(
            "http://{}/v2/core-app/manifests/{digest}",
            engine.registry
        ))
        .output()?;
    ensure!(manifest.status.success(), "{}", describe(&manifest));
    assert_eq!(stdout(&manifest), "200");
    Ok(())
}

#[test]
#[ignore = "needs a container engine, base images and a registry (tests/image-tools, as root)"]
fn a_platform_reaches_the_engine_and_one_without_bases_is_explained() -> Result<()> {
    let engine = Engine::from_env()?;
    let world = product()?;
    let build = |platform: &str| -> Result<Output> {
        let mut args = vec![
            "--json".to_string(),
            "image".to_string(),
            "build".to_string(),
        ];
        args.extend(engine.build_args());
        args.extend([
            "--platform".to_string(),
            platform.to_string(),
            "--tag".to_string(),
            format!("core-app:{}", platform.replace('/', "-")),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(engine.hpmctl(&world, &args).output()?)
    };

    let native = build("linux/amd64")?;
    ensure!(native.status.success(), "{}", describe(&native));
    let report = json(&native)?;
    let argv = report["commands"][0].to_string();
    assert!(argv.contains("\"--platform\",\"linux/amd64\""), "{argv}");
    let image = report["image_id"].as_str().context("an image id")?;
    let built_for = engine.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}",
        image,
    ])?;
    assert_eq!(built_for.trim(), "linux/amd64");

    // No arm64 bases here (and no registry to fetch them from).
    let foreign = build("linux/arm64")?;
    assert!(!foreign.status.success(), "{}", describe(&foreign));
    let error = &json(&foreign)?["error"];
    let hint = error["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("linux/arm64") && hint.contains("--base-image"),
        "{error:#}"
    );
    Ok(())
}

/// Regression: untracked, unignored files (`.env`, `id_rsa`,
/// `secrets/token.txt`, `.npmrc`) went into the image's build context, and
/// `COPY project /app` put them in a stage. The context holds the files
/// git tracks (a tracked file as it is in the work tree), nothing else; a
/// fake engine records the context it was given.
#[test]
fn the_build_context_holds_only_the_files_git_tracks() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let world = product()?;
    let core = world.core();
    let secrets = [
        (".env", "TOKEN=s3cret\n"),
        ("id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n"),
        ("secrets/token.txt", "s3cret\n"),
        (".npmrc", "//registry.example.com/:_authToken=s3cret\n"),
    ];
    for (file, text) in secrets {
        let path = core.join(file);
        std::fs::create_dir_all(path.parent().context("a folder")?)?;
        std::fs::write(path, text)?;
    }
    write_app(&core, "edited, not committed")?;
    let record = world.root().join("context.txt");
    let engine = world.root().join("fake-engine");
    std::fs::write(
        &engine,
        format!(
            "#!/bin/sh\ncd context && find . -type f | sort > '{}' && cat project/src/core_app/__init__.py >> '{}'\necho 'the fake engine builds nothing' >&2\nexit 1\n",
            record.display(),
            record.display()
        ),
    )?;
    std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755))?;

    let built = world
        .hpmctl()
        .args(["--no-daemon", "image", "build", "--engine"])
        .arg(&engine)
        .output()?;
    assert_eq!(built.status.code(), Some(1), "{}", describe(&built));
    let listed = std::fs::read_to_string(&record).context("the engine was not run")?;
    assert!(
        listed.contains("./project/src/core_app/__init__.py")
            && listed.contains("./project/hpm.yaml")
            && listed.contains("./project/pyproject.toml")
            && listed.contains("edited, not committed"),
        "{listed}"
    );
    for (file, _) in secrets {
        assert!(
            !listed.contains(file),
            "{file} went into the context:\n{listed}"
        );
    }
    assert!(!listed.contains("s3cret"), "{listed}");
    Ok(())
}

/// Regression: `HPM_ENGINE` was read from the daemon's environment, so a
/// client's choice of engine (podman, say) was ignored when the daemon
/// built. It travels with the request: the daemon runs the client's.
#[test]
fn the_daemon_runs_the_engine_the_clients_hpm_engine_names() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let world = product()?;
    let ran = world.root().join("engine-ran");
    let engine = world.root().join("clients-engine");
    std::fs::write(
        &engine,
        format!(
            "#!/bin/sh\ntouch '{}'\necho 'the fake engine builds nothing' >&2\nexit 1\n",
            ran.display()
        ),
    )?;
    std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755))?;
    let started = world
        .hpmctl()
        .args(["daemon", "start"])
        .env_remove("HPM_ENGINE")
        .output()?;
    assert!(started.status.success(), "{}", describe(&started));
    let built = world
        .hpmctl()
        .args(["image", "build"])
        .env("HPM_ENGINE", &engine)
        .output()?;
    let _ = world.run(&["daemon", "stop"]);
    assert_eq!(built.status.code(), Some(1), "{}", describe(&built));
    assert!(
        ran.exists(),
        "the daemon did not run the client's engine:\n{}",
        describe(&built)
    );
    Ok(())
}
