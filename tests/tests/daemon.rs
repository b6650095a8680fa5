//! End-to-end tests of `hpmd` and daemon-mode `hpmctl`: the JSON shapes,
//! concurrency, cancel, crash recovery, version replacement, stale sockets,
//! the socket's permissions and peer check, raw JSON-RPC, the commands.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};

use hpm_tests::{
    curl_hello, describe, gated_uv, git, stderr, stdout, target_dir, wait_for, Gate, World,
};
use serde_json::Value;

fn world_with_plugins() -> anyhow::Result<World> {
    World::with_dev_plugins(&["plugin-a", "plugin-b"])
}

fn json(output: &std::process::Output) -> anyhow::Result<Value> {
    serde_json::from_str(&stdout(output))
        .map_err(|e| anyhow::anyhow!("not JSON ({e}):\n{}", describe(output)))
}

/// The daemon's pid, from `hpmctl daemon status --json`.
fn daemon_pid(world: &World) -> anyhow::Result<u64> {
    let status = json(&world.ok(&["daemon", "status", "--json"])?)?;
    status["hello"]["pid"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no daemon: {status}"))
}

/// Starts this world's daemon with `HPM_UV` set to a uv that first waits
/// for `release` to exist (so a test can act while a job runs), then runs
/// the real uv. Writes its pid to `uv.pid`.
fn start_daemon_with_gated_uv(world: &World) -> anyhow::Result<std::path::PathBuf> {
    let release = world.root().join("release-uv");
    let pid_file = world.root().join("uv.pid");
    let gated = gated_uv(world.root(), Gate::Until(&release), &pid_file)?;
    // The daemon takes uv from its own environment: start a fresh one.
    world.ok(&["daemon", "stop"])?;
    let output = world
        .hpmctl()
        .args(["daemon", "start"])
        .env("HPM_UV", &gated)
        .output()?;
    anyhow::ensure!(output.status.success(), "{}", describe(&output));
    Ok(release)
}

fn spawn(world: &World, args: &[&str]) -> anyhow::Result<Child> {
    Ok(world
        .hpmctl()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

#[test]
fn status_json_has_the_documented_shape_and_follows_the_clone() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["sync"])?;
    let status = json(&world.ok(&["status", "--json"])?)?;
    assert_eq!(status["workspace"], world.core().display().to_string());
    assert_eq!(status["mode"], "dev");
    assert_eq!(status["in_sync"], true);
    let a = &status["packages"][0];
    assert_eq!(a["name"], "plugin-a");
    assert_eq!(a["group"], Value::Null);
    assert_eq!(a["mode"], "dev");
    assert_eq!(
        a["source"],
        serde_json::json!({"type": "path", "path": "packages/plugin-a", "editable": true})
    );
    assert_eq!(a["requirement"], "plugin-a");
    assert_eq!(a["installed_version"], "1.1.0.dev0");
    assert_eq!(a["installed_matches"], true);
    assert_eq!(a["repo"]["path"], "packages/plugin-a");
    assert_eq!(a["repo"]["branch"], "main");
    assert_eq!(a["repo"]["head"].as_str().map(str::len), Some(12));
    assert_eq!(
        (
            a["repo"]["dirty"].clone(),
            a["repo"]["ahead"].clone(),
            a["repo"]["behind"].clone()
        ),
        (false.into(), 0.into(), 0.into())
    );

    // A commit and an uncommitted file in the clone show at once.
    let clone = world.core().join("packages/plugin-a");
    std::fs::write(clone.join("notes.txt"), "wip")?;
    git(&clone, &["add", "notes.txt"])?;
    git(&clone, &["commit", "-q", "-m", "wip"])?;
    std::fs::write(clone.join("untracked.txt"), "x")?;
    let status = json(&world.ok(&["status", "--json"])?)?;
    assert_eq!(status["packages"][0]["repo"]["ahead"], 1);
    assert_eq!(status["packages"][0]["repo"]["dirty"], true);

    // In prod the installed package matches only after the sync.
    world.ok(&["switch", "prod"])?;
    let status = json(&world.ok(&["status", "--json"])?)?;
    assert_eq!(status["packages"][0]["installed_version"], "1.0.0");
    assert_eq!(status["packages"][0]["installed_matches"], true);
    assert_eq!(
        status["packages"][0]["source"]["reference"],
        serde_json::json!({"ref": "v1.0.0"})
    );
    assert!(status["packages"][0].get("repo").is_none());
    Ok(())
}

#[test]
fn two_clients_at_once_one_syncing_one_reading_status() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["sync"])?;
    let release = start_daemon_with_gated_uv(&world)?;
    let syncing = spawn(&world, &["switch", "prod"])?;
    wait_for("uv to start", || world.root().join("uv.pid").exists())?;
    // The job is running; status answers meanwhile, and says the plan changed.
    let status = json(&world.ok(&["status", "--json"])?)?;
    assert_eq!(
        status["mode"], "dev",
        "the switch is remembered only once it succeeds"
    );
    std::fs::write(&release, "")?;
    let output = syncing.wait_with_output()?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(json(&world.ok(&["status", "--json"])?)?["mode"], "prod");
    Ok(())
}

#[test]
fn cancel_kills_uv_and_restores_the_files() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["sync"])?;
    let (pyproject, lock) = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));
    let _release = start_daemon_with_gated_uv(&world)?;
    let syncing = spawn(&world, &["switch", "prod"])?;
    wait_for("uv to start", || world.root().join("uv.pid").exists())?;
    assert_ne!(
        world.bytes("pyproject.toml"),
        pyproject,
        "the job had written pyproject.toml"
    );
    let cancel = world.ok(&["cancel"])?;
    assert!(
        stderr(&cancel).contains("cancelled"),
        "{}",
        describe(&cancel)
    );
    let output = syncing.wait_with_output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("cancelled"),
        "{}",
        describe(&output)
    );
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    assert_eq!(world.bytes("uv.lock"), lock);
    let uv_pid = std::fs::read_to_string(world.root().join("uv.pid"))?;
    assert!(
        !std::path::Path::new(&format!("/proc/{}", uv_pid.trim())).exists(),
        "uv's process group was killed"
    );
    Ok(())
}

#[test]
fn a_daemon_killed_mid_job_is_recovered_by_the_next_one() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["sync"])?;
    let (pyproject, lock) = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));
    let _release = start_daemon_with_gated_uv(&world)?;
    let pid = daemon_pid(&world)?;
    let syncing = spawn(&world, &["switch", "prod"])?;
    wait_for("uv to start", || world.root().join("uv.pid").exists())?;
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    let uv_pid = std::fs::read_to_string(world.root().join("uv.pid"))?;
    Command::new("kill").args(["-9", uv_pid.trim()]).status()?;
    let output = syncing.wait_with_output()?;
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    // Said as what it is, with what happens to the files next.
    let said = stderr(&output);
    assert!(said.contains("hpmd stopped during the sync"), "{said}");
    assert!(
        said.contains("rolls `pyproject.toml` and `uv.lock` back"),
        "{said}"
    );
    assert!(!said.contains("restart required"), "{said}");
    assert!(
        world.socket().exists(),
        "a killed daemon leaves its socket behind"
    );
    assert!(world.core().join(".hpm/journal/journal.json").exists());

    // The next command starts a new daemon over the stale socket, which rolls back.
    let status = json(&world.ok(&["status", "--json"])?)?;
    assert_eq!(status["mode"], "dev");
    assert_ne!(daemon_pid(&world)?, pid);
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    assert_eq!(world.bytes("uv.lock"), lock);
    assert!(!world.core().join(".hpm/journal").exists());
    Ok(())
}

#[test]
fn a_daemon_of_another_version_is_replaced() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    let mut old = Command::new(target_dir().join("hpmd"))
        .args(["--socket", &world.socket().display().to_string()])
        .env("HPMD_REPORT_VERSION", "0.0.1-old")
        .stdin(Stdio::null())
        .spawn()?;
    wait_for("the old daemon", || {
        UnixStream::connect(world.socket()).is_ok()
    })?;
    let status = json(&world.ok(&["daemon", "status", "--json"])?)?;
    assert_eq!(status["hello"]["version"], "0.0.1-old");

    let output = world.ok(&["status"])?;
    assert!(
        stderr(&output).contains("replacing hpmd 0.0.1-old"),
        "{}",
        describe(&output)
    );
    assert!(old.wait()?.success(), "the old daemon shut down cleanly");
    let status = json(&world.ok(&["daemon", "status", "--json"])?)?;
    assert_eq!(status["hello"]["version"], env!("CARGO_PKG_VERSION"));
    Ok(())
}

#[test]
fn the_socket_and_its_folder_are_private() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["daemon", "start"])?;
    let socket_mode = std::fs::metadata(world.socket())?.permissions().mode() & 0o777;
    assert_eq!(socket_mode, 0o600);
    // The folder the daemon made for a socket is 0700.
    let private = world.root().join("private/dir");
    let output = world
        .hpmctl()
        .args([
            "daemon",
            "start",
            "--socket",
            &private.join("s.sock").display().to_string(),
        ])
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        std::fs::metadata(&private)?.permissions().mode() & 0o777,
        0o700
    );
    world
        .hpmctl()
        .args([
            "daemon",
            "stop",
            "--socket",
            &private.join("s.sock").display().to_string(),
        ])
        .output()?;
    Ok(())
}

/// Regression: an `hpmd` that could not start (here a folder where its
/// socket goes) left `hpmctl` waiting for an answer that could not come,
/// then saying only that none came; it now says hpmd's own reason.
#[test]
fn a_daemon_that_cannot_start_is_reported_with_its_reason() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    std::fs::create_dir(world.socket())?;
    let output = world.run(&["status"]);
    assert!(!output.status.success(), "{}", describe(&output));
    let said = stderr(&output);
    assert!(
        said.contains(&format!(
            "hpmd could not start on `{}`: cannot remove the stale socket",
            world.socket().display()
        )) && said.contains("Is a directory"),
        "{}",
        describe(&output)
    );
    assert!(said.contains("hint: "), "{}", describe(&output));
    // With the way clear, the next command starts it.
    std::fs::remove_dir(world.socket())?;
    world.ok(&["status"])?;
    let _ = world.run(&["daemon", "stop"]);
    Ok(())
}

/// Acting as another user needs root; `tests/run` runs it when it runs as
/// root (as CI does), and it is reported as ignored otherwise.
#[test]
#[ignore = "needs root: acts as another user (tests/run includes it when run as root)"]
fn other_users_are_refused() -> anyhow::Result<()> {
    anyhow::ensure!(nix_is_root(), "this test needs root to act as another user");
    let world = world_with_plugins()?;
    world.ok(&["daemon", "start"])?;
    // Open the socket's mode so that only the peer-uid check stands in the way.
    std::fs::set_permissions(world.socket(), std::fs::Permissions::from_mode(0o666))?;
    std::fs::set_permissions(world.root(), std::fs::Permissions::from_mode(0o755))?;
    let as_nobody = curl_hello(&world.socket(), Some(65534))?;
    assert!(
        !as_nobody.status.success(),
        "another user got an answer: {}",
        describe(&as_nobody)
    );
    assert!(
        !stdout(&as_nobody).contains("result"),
        "{}",
        describe(&as_nobody)
    );
    // The same request as this user is answered.
    let as_me = curl_hello(&world.socket(), None)?;
    assert!(
        stdout(&as_me).contains("\"result\""),
        "{}",
        describe(&as_me)
    );
    Ok(())
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0")
        .unwrap_or(false)
}

/// A raw HTTP POST of `body` on the socket; the JSON answer.
fn raw_post(world: &World, body: &str) -> anyhow::Result<Value> {
    let mut stream = UnixStream::connect(world.socket())?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    Ok(serde_json::from_str(body.trim())?)
}

#[test]
fn malformed_json_rpc_gets_the_standard_errors() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["daemon", "start"])?;
    assert_eq!(raw_post(&world, "{not json")?["error"]["code"], -32700);
    assert_eq!(
        raw_post(&world, r#"{"jsonrpc":"2.0","id":1,"method":"hpm_nope"}"#)?["error"]["code"],
        -32601
    );
    assert_eq!(
        raw_post(
            &world,
            r#"{"jsonrpc":"2.0","id":1,"method":"hpm_status","params":[42]}"#
        )?["error"]["code"],
        -32602
    );
    assert_eq!(
        raw_post(&world, r#"{"id":1,"method":7}"#)?["error"]["code"],
        -32600
    );
    let batch = raw_post(
        &world,
        r#"[{"jsonrpc":"2.0","id":1,"method":"hpm_hello"},{"jsonrpc":"2.0","id":2,"method":"hpm_nope"}]"#,
    )?;
    let answers = batch.as_array().cloned().unwrap_or_default();
    assert_eq!(answers.len(), 2, "{batch}");
    // hpm's own errors carry their code and the problems as data.
    let missing = world.root().join("nowhere");
    let error = raw_post(
        &world,
        &format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"hpm_status","params":["{}"]}}"#,
            missing.display()
        ),
    )?;
    assert_eq!(error["error"]["code"], 1001, "{error}");
    Ok(())
}

/// Regression: a relative workspace path over JSON-RPC was resolved
/// against the daemon's working folder (here the core, where the first
/// client started it), so `"."` opened whichever workspace the daemon
/// happened to start in. It is refused, saying why; hpmctl sends absolute
/// paths.
#[test]
fn a_relative_workspace_path_over_json_rpc_is_refused() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["daemon", "start"])?;
    for relative in [".", "./", "../core"] {
        let answer = raw_post(
            &world,
            &format!(r#"{{"jsonrpc":"2.0","id":1,"method":"hpm_status","params":["{relative}"]}}"#),
        )?;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("the workspace path `{relative}` is relative")),
            "{relative}: {answer}"
        );
        assert_eq!(
            answer["error"]["data"]["hint"], "send the workspace's absolute path",
            "{answer}"
        );
    }
    let absolute = raw_post(
        &world,
        &format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"hpm_status","params":["{}"]}}"#,
            world.core().display()
        ),
    )?;
    assert!(absolute["result"].is_object(), "{absolute}");
    Ok(())
}

/// Reads a child's stdout lines into a shared list as they come.
fn collect_lines(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    if let Some(out) = child.stdout.take() {
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().map(|mut l| l.push(line)).ok();
            }
        });
    }
    lines
}

#[test]
fn equal_queued_requests_merge_and_events_are_numbered() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["sync"])?;
    let release = start_daemon_with_gated_uv(&world)?;
    let mut events_child = spawn(&world, &["events", "--json"])?;
    let lines = collect_lines(&mut events_child);
    let events = || -> Vec<Value> {
        lines
            .lock()
            .map(|l| {
                l.iter()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = spawn(&world, &["switch", "prod"])?;
    wait_for("uv to start", || world.root().join("uv.pid").exists())?;
    // Two equal syncs queue behind the running switch and become one job.
    let second = spawn(&world, &["sync", "--force"])?;
    let third = spawn(&world, &["sync", "--force"])?;
    wait_for("both syncs to be queued", || {
        events()
            .iter()
            .filter(|e| e["event"] == "job_queued")
            .count()
            == 2
    })?;
    let queued: Vec<Value> = events()
        .into_iter()
        .filter(|e| e["event"] == "job_queued")
        .collect();
    assert_eq!(
        (queued[0]["merged"].clone(), queued[1]["merged"].clone()),
        (false.into(), true.into())
    );
    std::fs::write(&release, "")?;
    for child in [first, second, third] {
        let output = child.wait_with_output()?;
        assert!(output.status.success(), "{}", describe(&output));
    }
    wait_for("the sync job to finish", || {
        events()
            .iter()
            .filter(|e| e["event"] == "job_finished")
            .count()
            == 2
    })?;
    events_child.kill()?;
    events_child.wait()?;
    let events = events();
    let syncs_started = events
        .iter()
        .filter(|e| e["event"] == "job_started" && e["change"]["kind"] == "sync")
        .count();
    assert_eq!(
        syncs_started, 1,
        "the two equal syncs ran as one job: {events:#?}"
    );
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "sequence numbers rise by one: {seqs:?}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "progress"
            && e["line"].as_str().is_some_and(|l| l.contains("Resolved"))));
    assert!(events.iter().any(|e| e["event"] == "status_changed"));
    Ok(())
}

#[test]
fn dev_clones_a_missing_package_only_when_told_to() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\n",
    )?;
    std::fs::remove_dir_all(world.core().join("packages/plugin-b"))?;
    world.ok(&["sync"])?;
    let output = world.run(&["dev", "plugin-b"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("not cloned yet"),
        "{}",
        describe(&output)
    );
    assert!(stderr(&output).contains("--yes"), "{}", describe(&output));
    assert!(!world.core().join("packages/plugin-b").exists());

    world.ok(&["dev", "plugin-b", "--yes"])?;
    assert!(world.core().join("packages/plugin-b/.git").exists());
    assert_eq!(world.imported_version("plugin-b")?, "1.1.0.dev0");
    // An existing clone with uncommitted work is used as it is, never touched.
    let module = world.core().join("packages/plugin-a/plugin_a/__init__.py");
    std::fs::write(&module, "VERSION = \"uncommitted\"\n")?;
    world.ok(&["dev", "plugin-a", "--yes"])?;
    assert_eq!(
        std::fs::read_to_string(&module)?,
        "VERSION = \"uncommitted\"\n"
    );
    assert_eq!(world.imported_version("plugin-a")?, "uncommitted");
    Ok(())
}

#[test]
fn check_passes_on_a_synced_prod_workspace_and_names_what_is_wrong() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["switch", "prod"])?;
    let output = world.ok(&["check", "--json"])?;
    assert_eq!(json(&output)?["ok"], true);

    let pyproject = world.read("pyproject.toml")?.replace(
        &format!(
            "plugin-a = {{ git = \"{}\", tag = \"v1.0.0\" }}",
            world.remote_url("plugin-a")
        ),
        "plugin-a = { path = \"packages/plugin-a\", editable = true }",
    );
    std::fs::write(world.core().join("pyproject.toml"), pyproject)?;
    let output = world.run(&["check"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let message = stderr(&output);
    assert!(
        message.contains("pyproject: `pyproject.toml` does not match the plan"),
        "{message}"
    );
    assert!(
        message.contains("local-source: `plugin-a` is in prod mode but has a local path source"),
        "{message}"
    );
    assert!(
        message.contains("lock: `uv.lock` is not current"),
        "{message}"
    );
    Ok(())
}

#[test]
fn init_writes_a_manifest_once() -> anyhow::Result<()> {
    let world = World::new()?;
    let output = world.hpmctl_in_process().arg("init").output()?;
    assert!(output.status.success(), "{}", describe(&output));
    let manifest = world.read("hpm.yaml")?;
    assert!(manifest.contains("version: 1") && world.core().join("hpm-registry").is_dir());
    // A user's error (the manifest exists) exits 1, with what to do next.
    let output = world.hpmctl_in_process().arg("init").output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stderr(&output).contains("already exists"));
    assert!(stderr(&output).contains("hint: "), "{}", describe(&output));
    assert_eq!(world.read("hpm.yaml")?, manifest);
    // The manifest it writes is valid: a sync with no packages succeeds.
    let output = world.hpmctl_in_process().arg("sync").output()?;
    assert!(output.status.success(), "{}", describe(&output));
    Ok(())
}

/// A file hpm makes is the user's: it gets the permissions their umask
/// gives a new file (as git and uv make one), not a private 0600.
#[test]
fn files_hpm_creates_get_the_users_umask() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (umask, expected) in [("022", 0o644), ("077", 0o600)] {
        let world = World::new()?;
        let command = world.hpmctl_in_process();
        let program = command.get_program().to_owned();
        let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
        let output = command_in_shell(
            &world,
            &format!("umask {umask} && exec \"$0\" \"$@\" init"),
            &program,
            &args,
        )?;
        assert!(output.status.success(), "{}", describe(&output));
        let mode = std::fs::metadata(world.core().join("hpm.yaml"))?
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, expected, "hpm.yaml under umask {umask}: {mode:o}");
    }
    Ok(())
}

/// `sh -c SCRIPT PROGRAM ARGS…` in the world's core, with the environment
/// hpmctl's commands get.
fn command_in_shell(
    world: &World,
    script: &str,
    program: &std::ffi::OsStr,
    args: &[std::ffi::OsString],
) -> anyhow::Result<std::process::Output> {
    let template = world.hpmctl();
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(script).arg(program).args(args);
    shell.current_dir(world.core());
    for (key, value) in template.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    Ok(shell.output()?)
}

#[test]
fn no_daemon_runs_leave_no_daemon_behind_and_the_daemon_exits_when_idle() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    let output = world.hpmctl_in_process().args(["sync"]).output()?;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!world.socket().exists(), "--no-daemon started no daemon");

    let output = world
        .hpmctl()
        .args(["daemon", "start"])
        .env("HPM_IDLE_TIMEOUT", "1")
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    let pid = daemon_pid(&world)?;
    wait_for("the idle daemon to exit", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })?;
    assert!(!world.socket().exists(), "it removed its socket");
    Ok(())
}

#[test]
fn a_connected_client_keeps_the_daemon_from_idling_out() -> anyhow::Result<()> {
    // An editor's event subscription (a WebSocket: hyper hands its stream
    // on after the upgrade) or an image build waiting for its report.
    let world = world_with_plugins()?;
    let output = world
        .hpmctl()
        .args(["daemon", "start"])
        .env("HPM_IDLE_TIMEOUT", "2")
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    let pid = daemon_pid(&world)?;
    let mut events = world
        .hpmctl()
        .args(["events", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(std::time::Duration::from_secs(6));
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    events.kill()?;
    events.wait()?;
    assert!(alive, "the daemon idled out under a connected client");
    wait_for("the daemon to idle out once the client left", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })?;
    Ok(())
}

#[test]
fn sigterm_stops_the_daemon_cleanly() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["daemon", "start"])?;
    let pid = daemon_pid(&world)?;
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    wait_for("the daemon to exit", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })?;
    assert!(!world.socket().exists());
    let output = world.ok(&["daemon", "status"])?;
    assert!(stdout(&output).contains("not running"));
    Ok(())
}

#[test]
fn completions_are_generated_from_the_commands() -> anyhow::Result<()> {
    let world = World::new()?;
    let output = world
        .hpmctl_in_process()
        .args(["completions", "bash"])
        .output()?;
    assert!(output.status.success());
    for word in ["switch", "status", "check", "events"] {
        assert!(stdout(&output).contains(word), "{word} missing");
    }
    Ok(())
}

/// `group list` is one call on the backend both ways: the daemon answers
/// `groupList` itself, and says what the engine in-process says.
#[test]
fn the_daemon_lists_groups_as_hpmctl_in_process_does() -> anyhow::Result<()> {
    use hpm_protocol::HpmApiClient;
    let world = world_with_plugins()?;
    world.write_manifest("version: 1\nmode: dev\nregistry: ./hpm-registry\ngroups:\n  slot:\n    options: [plugin-a, plugin-b]\n    selected: plugin-b\n  extras:\n    options: [plugin-a]\n    multiple: true\n")?;
    let through_daemon = json(&world.ok(&["--json", "group", "list"])?)?;
    let in_process = world
        .hpmctl_in_process()
        .args(["--json", "group", "list"])
        .output()?;
    assert!(in_process.status.success(), "{}", describe(&in_process));
    assert_eq!(through_daemon, json(&in_process)?);
    assert_eq!(
        through_daemon["slot"]["selected"],
        serde_json::json!(["plugin-b"])
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answered = runtime.block_on(async {
        let client = hpm_tests::rpc_client(&world.socket()).await?;
        anyhow::Ok(client.group_list(world.core()).await?)
    })?;
    assert_eq!(serde_json::to_value(answered)?, through_daemon);
    Ok(())
}

#[test]
fn group_add_switches_the_selected_option_keeping_the_manifest_layout() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    let manifest = "# the demo\nversion: 1\nmode: dev\nregistry: ./hpm-registry\ngroups:\n  slot:   # one plugin at a time\n    options: [plugin-a, plugin-b]\n    selected: plugin-a   # today's choice\n";
    world.write_manifest(manifest)?;
    world.ok(&["sync"])?;
    assert!(world.imported_version("plugin-a").is_ok());

    world.ok(&["group", "add", "slot", "--option", "plugin-b"])?;
    assert_eq!(
        world.read("hpm.yaml")?,
        manifest.replace("selected: plugin-a   #", "selected: plugin-b   #")
    );
    assert!(world.imported_version("plugin-b").is_ok());
    assert!(
        world.imported_version("plugin-a").is_err(),
        "the exclusive group dropped plugin-a"
    );
    let list = stdout(&world.ok(&["group", "list"])?);
    assert_eq!(list.trim(), "slot: one of plugin-a, *plugin-b");

    // An unknown option changes nothing.
    let before = world.read("hpm.yaml")?;
    let output = world.run(&["group", "add", "slot", "--option", "ghost"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("`ghost` is not an option of group `slot`"),
        "{}",
        describe(&output)
    );
    assert_eq!(world.read("hpm.yaml")?, before);

    // A selection whose sync fails is reverted in hpm.yaml too.
    std::fs::remove_dir_all(world.core().join("packages/plugin-a"))?;
    let output = world.run(&["group", "add", "slot", "--option", "plugin-a"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("local folder `packages/plugin-a` does not exist"),
        "{}",
        describe(&output)
    );
    assert_eq!(world.read("hpm.yaml")?, before);
    Ok(())
}

#[test]
fn a_no_op_sync_answered_from_memory_still_sees_every_change() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    // Only this test's syncs run: the watcher does not start any.
    let manifest = "version: 1\nmode: dev\nregistry: ./hpm-registry\n\
                    settings: { auto_sync: false }\npackages: [plugin-a, plugin-b]\n";
    world.write_manifest(manifest)?;
    let outcome = |world: &World| -> anyhow::Result<String> {
        let report = json(&world.ok(&["sync", "--json"])?)?;
        Ok(report["outcome"].as_str().unwrap_or_default().to_string())
    };
    let settle = || std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(outcome(&world)?, "synced");
    // The first no-op reads every input and remembers their stamps; the
    // next ones are answered from them.
    settle();
    assert_eq!(outcome(&world)?, "up_to_date");
    assert_eq!(outcome(&world)?, "up_to_date");

    // A same-size, in-place edit of a dev clone's pyproject.toml.
    let clone_pyproject = world.core().join("packages/plugin-a/pyproject.toml");
    let text = std::fs::read_to_string(&clone_pyproject)?;
    let edited = text.replace("1.1.0.dev0", "1.1.0.dev1");
    assert_eq!(edited.len(), text.len());
    std::fs::write(&clone_pyproject, &edited)?;
    assert_eq!(outcome(&world)?, "synced", "the clone's edit is seen");

    // Right after a sync wrote files, a no-op and an edit in the same
    // instant: the files were too fresh to be trusted by stamp.
    assert_eq!(outcome(&world)?, "up_to_date");
    std::fs::write(&clone_pyproject, &text)?;
    assert_eq!(outcome(&world)?, "synced", "the quick edit back is seen");

    // The environment removed.
    settle();
    assert_eq!(outcome(&world)?, "up_to_date");
    std::fs::remove_dir_all(world.core().join(".venv"))?;
    assert_eq!(
        outcome(&world)?,
        "synced",
        "the removed environment is rebuilt"
    );
    assert_eq!(world.imported_version("plugin-a")?, "1.1.0.dev0");

    // The manifest edited: plugin-b leaves.
    settle();
    assert_eq!(outcome(&world)?, "up_to_date");
    world.write_manifest(&manifest.replace("plugin-a, plugin-b", "plugin-a"))?;
    assert_eq!(outcome(&world)?, "synced", "the manifest's edit is seen");
    assert!(!world.read("pyproject.toml")?.contains("plugin-b"));
    Ok(())
}

/// Ctrl-C of a daemon-mode command stops only the waiting: the job goes on
/// in hpmd, and hpmctl says so and how to cancel it.
#[test]
fn ctrl_c_during_a_daemon_job_says_the_job_goes_on_and_how_to_cancel_it() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["sync"])?;
    let (pyproject, lock) = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));
    let _release = start_daemon_with_gated_uv(&world)?;
    let switching = spawn(&world, &["switch", "prod"])?;
    wait_for("uv to start in the daemon", || {
        world.root().join("uv.pid").exists()
    })?;
    Command::new("kill")
        .args(["-INT", &switching.id().to_string()])
        .status()?;
    let output = switching.wait_with_output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let said = stderr(&output);
    assert!(said.contains("the job goes on in hpmd"), "{said}");
    assert!(said.contains("`hpmctl cancel` stops it"), "{said}");
    // The job is still there, and cancel stops it and restores both files.
    let cancel = world.ok(&["cancel"])?;
    assert!(
        stderr(&cancel).contains("cancelled"),
        "{}",
        describe(&cancel)
    );
    wait_for("the cancelled job's rollback", || {
        world.bytes("pyproject.toml") == pyproject && world.bytes("uv.lock") == lock
    })?;
    Ok(())
}

/// What an editor's WebSocket client sees: `hpm_subscribeEvents` answers a
/// subscription id, and each event arrives as a notification whose method
/// is `hpm_event` (the README says so), carrying the id and the event.
#[test]
fn events_arrive_on_the_wire_as_hpm_event_notifications() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.ok(&["sync"])?;
    let stream = UnixStream::connect(world.socket())?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let (mut socket, _) = tungstenite::client("ws://localhost/", stream)
        .map_err(|error| anyhow::anyhow!("WebSocket handshake: {error}"))?;
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"hpm_subscribeEvents","params":[]}"#;
    socket.send(tungstenite::Message::text(request))?;
    let read_json = |socket: &mut tungstenite::WebSocket<UnixStream>| -> anyhow::Result<Value> {
        loop {
            if let tungstenite::Message::Text(text) = socket.read()? {
                return Ok(serde_json::from_str(text.as_str())?);
            }
        }
    };
    let answer = read_json(&mut socket)?;
    let subscription = answer["result"].clone();
    assert!(!subscription.is_null(), "{answer}");

    world.ok(&["sync", "--force"])?;
    let notification = read_json(&mut socket)?;
    assert_eq!(notification["method"], "hpm_event", "{notification}");
    assert_eq!(notification["params"]["subscription"], subscription);
    let event = &notification["params"]["result"];
    assert!(event["seq"].is_u64(), "{event}");
    assert!(event["event"].is_string(), "{event}");
    assert_eq!(
        event["workspace"].as_str().map(std::path::PathBuf::from),
        Some(world.core().canonicalize()?)
    );
    let _ = world.run(&["daemon", "stop"]);
    Ok(())
}

/// Regression: the daemon read `UV_PROJECT_ENVIRONMENT` from its own
/// environment, so a client that set it got its environment in `.venv`
/// (uv ran without it) while hpm looked elsewhere. It travels with the
/// request: the daemon's uv and its status use the client's.
#[test]
fn the_daemon_syncs_into_the_clients_uv_project_environment() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    let started = world
        .hpmctl()
        .args(["daemon", "start"])
        .env_remove("UV_PROJECT_ENVIRONMENT")
        .output()?;
    assert!(started.status.success(), "{}", describe(&started));
    let synced = world
        .hpmctl()
        .arg("sync")
        .env("UV_PROJECT_ENVIRONMENT", "env-of-the-client")
        .output()?;
    assert!(synced.status.success(), "{}", describe(&synced));
    let core = world.core();
    assert!(core.join("env-of-the-client/bin/python").exists());
    assert!(!core.join(".venv").exists(), "uv synced .venv");
    let status = world
        .hpmctl()
        .args(["status", "--json"])
        .env("UV_PROJECT_ENVIRONMENT", "env-of-the-client")
        .output()?;
    let status = json(&status)?;
    let installed = status["packages"][0]["installed_version"].clone();
    assert!(
        installed.is_string(),
        "status reads the client's environment: {status}"
    );
    world.ok(&["daemon", "stop"])?;
    Ok(())
}

/// Regression: the daemon found uv through its own `HPM_UV` (or `PATH`),
/// so a terminal that chose its uv with `HPM_UV` got the daemon's. It
/// travels with the request: the sync runs the client's uv.
#[test]
fn the_daemon_runs_the_uv_the_clients_hpm_uv_names() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let world = world_with_plugins()?;
    let real = hpm_engine::uv::Uv::find()?.path;
    let calls = world.root().join("client-uv.calls");
    let wrapper = world.root().join("client-uv");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            real.display()
        ),
    )?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let started = world.hpmctl().args(["daemon", "start"]).output()?;
    assert!(started.status.success(), "{}", describe(&started));
    let synced = world
        .hpmctl()
        .arg("sync")
        .env("HPM_UV", &wrapper)
        .output()?;
    assert!(synced.status.success(), "{}", describe(&synced));
    let ran = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(
        ran.lines().any(|line| line == "sync"),
        "the daemon did not run the client's uv for the sync: {ran:?}"
    );
    world.ok(&["daemon", "stop"])?;
    Ok(())
}

/// Status names the workspace's modes (any name a registry entry uses, a
/// fourth mode `qa` here), so that editors offer exactly those; the same
/// through the daemon and in-process. A switch to `qa` installs its tag.
#[test]
fn status_names_every_mode_the_workspace_uses_and_a_fourth_one_switches() -> anyhow::Result<()> {
    let world = world_with_plugins()?;
    world.register_with_qa(&["plugin-a", "plugin-b"])?;
    for args in [
        &["status", "--json"][..],
        &["--no-daemon", "status", "--json"],
    ] {
        let status = json(&world.ok(args)?)?;
        assert_eq!(
            status["modes"],
            serde_json::json!(["dev", "staging", "prod", "qa"]),
            "{args:?}: {status}"
        );
    }
    world.ok(&["switch", "qa"])?;
    assert_eq!(world.imported_version("plugin-a")?, "1.1.0.dev0");
    let status = json(&world.ok(&["status", "--json"])?)?;
    assert_eq!(status["mode"], "qa", "{status}");
    world.ok(&["daemon", "stop"])?;
    Ok(())
}
