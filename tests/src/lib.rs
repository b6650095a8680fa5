//! Fixture worlds for hpm's end-to-end tests and its benchmark.
//!
//! A [`World`] is a temporary folder holding plugin repositories (hatchling
//! packages with release tags), bare `file://` remotes standing in for
//! GitHub, and a core project with `hpm.yaml` and a registry folder. Tests
//! drive the real `hpmctl` binary, the real `uv` and the real `git` in it.

pub mod forge;
pub mod git_http;
pub mod image;
pub mod index;
pub mod release;
pub mod ssh;
pub mod submodules;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// One release of a plugin: a tag, the version it carries, its dependencies.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    pub tag: &'a str,
    pub version: &'a str,
    pub dependencies: &'a [&'a str],
    /// TOML appended to the release's `pyproject.toml` (a `[tool.uv]`
    /// table, say).
    pub extra_toml: &'a str,
}

impl<'a> Release<'a> {
    pub const fn new(tag: &'a str, version: &'a str) -> Self {
        Release {
            tag,
            version,
            dependencies: &[],
            extra_toml: "",
        }
    }

    pub const fn depending_on(mut self, dependencies: &'a [&'a str]) -> Self {
        self.dependencies = dependencies;
        self
    }

    pub const fn with_toml(mut self, extra_toml: &'a str) -> Self {
        self.extra_toml = extra_toml;
        self
    }
}

/// A temporary world; removed when dropped.
#[derive(Debug)]
pub struct World {
    dir: tempfile::TempDir,
}

impl Drop for World {
    /// Stops this world's daemon, if one was started.
    fn drop(&mut self) {
        if self.socket().exists() {
            let _ = self.hpmctl().args(["daemon", "stop"]).output();
        }
    }
}

/// The module name hatchling finds for a package name.
pub fn module_name(package: &str) -> String {
    package.replace('-', "_")
}

impl World {
    /// Leaves the world on disk (its daemon stopped is the caller's care);
    /// returns its root.
    pub fn keep(self) -> PathBuf {
        let root = self.root().to_path_buf();
        // Neither the folder's removal nor the daemon's stop runs.
        std::mem::forget(self);
        root
    }

    /// An empty world with a core project (`core/`, hatchling, no deps).
    pub fn new() -> Result<World> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new().prefix("hpm-world-").tempdir()?;
        // Private, as a user's runtime folder is: the world's daemon puts its
        // socket here, and hpmd refuses a folder open to others.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let world = World { dir };
        let core = world.core();
        std::fs::create_dir_all(core.join("hpm-registry"))?;
        std::fs::create_dir_all(core.join("src/core_app"))?;
        std::fs::write(core.join("src/core_app/__init__.py"), "")?;
        std::fs::write(
            core.join("pyproject.toml"),
            "# The core project; hpm manages only its plugins' entries.\n\
             [project]\nname = \"core-app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
             dependencies = [\n    # plugins are added by hpm below\n]\n\n\
             [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
             [tool.hatch.build.targets.wheel]\npackages = [\"src/core_app\"]\n",
        )?;
        Ok(world)
    }

    /// A world whose plugins `names` each have releases `v1.0.0` and
    /// `v1.1.0.dev0`, the usual registry entry (staging at the dev tag, prod
    /// at the stable one) and a dev clone, with a manifest in dev mode
    /// listing them all.
    pub fn with_dev_plugins(names: &[impl AsRef<str>]) -> Result<World> {
        let world = World::new()?;
        for name in names {
            let name = name.as_ref();
            world.add_plugin(
                name,
                &[
                    Release::new("v1.0.0", "1.0.0"),
                    Release::new("v1.1.0.dev0", "1.1.0.dev0"),
                ],
            )?;
            world.register(name, "v1.1.0.dev0", "v1.0.0")?;
            world.clone_for_dev(name)?;
        }
        let listed: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        world.write_manifest(&format!(
            "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [{}]\n",
            listed.join(", ")
        ))?;
        Ok(world)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The core project's folder (the workspace root).
    pub fn core(&self) -> PathBuf {
        self.root().join("core")
    }

    /// The `file://` URL of a plugin's bare remote.
    pub fn remote_url(&self, name: &str) -> String {
        format!(
            "file://{}",
            self.root()
                .join("remotes")
                .join(format!("{name}.git"))
                .display()
        )
    }

    /// Creates a plugin repository with one commit and tag per release, and a
    /// bare remote it is pushed to. Its module has `VERSION = "<version>"`.
    pub fn add_plugin(&self, name: &str, releases: &[Release<'_>]) -> Result<()> {
        let repo = self.root().join("src").join(name);
        let module = module_name(name);
        std::fs::create_dir_all(repo.join(&module))?;
        git(&repo, &["init", "-q", "-b", "main"])?;
        for release in releases {
            std::fs::write(repo.join("pyproject.toml"), plugin_pyproject(name, release))?;
            std::fs::write(
                repo.join(&module).join("__init__.py"),
                format!("VERSION = \"{}\"\n", release.version),
            )?;
            git(&repo, &["add", "-A"])?;
            git(
                &repo,
                &[
                    "commit",
                    "-q",
                    "-m",
                    &format!("release {}", release.version),
                ],
            )?;
            git(&repo, &["tag", release.tag])?;
        }
        let remote = self.root().join("remotes").join(format!("{name}.git"));
        std::fs::create_dir_all(remote.parent().context("remote folder")?)?;
        git(
            self.root(),
            &[
                "clone",
                "-q",
                "--bare",
                &repo.display().to_string(),
                &remote.display().to_string(),
            ],
        )?;
        Ok(())
    }

    /// Clones a plugin's remote into `core/packages/<name>` (a dev clone).
    pub fn clone_for_dev(&self, name: &str) -> Result<PathBuf> {
        let target = self.core().join("packages").join(name);
        std::fs::create_dir_all(target.parent().context("packages folder")?)?;
        git(
            self.root(),
            &[
                "clone",
                "-q",
                &self.remote_url(name),
                &target.display().to_string(),
            ],
        )?;
        Ok(target)
    }

    /// Writes the usual registry entry: dev from `packages/<name>`, staging
    /// and prod from the remote at the given tags.
    pub fn register(&self, name: &str, staging_tag: &str, prod_tag: &str) -> Result<()> {
        let url = self.remote_url(name);
        self.write_registry_entry(
            name,
            &format!(
                "name: {name}\nrepo: {url}\nsources:\n  dev:     {{ type: local, path: ./packages/{name}, editable: true }}\n  staging: {{ type: git, url: \"{url}\", ref: {staging_tag} }}\n  prod:    {{ type: git, url: \"{url}\", ref: {prod_tag} }}\n"
            ),
        )
    }

    /// Gives each of `names` the usual entry plus a fourth mode, `qa`, at
    /// its `.dev0` tag (a mode name only the registry knows).
    pub fn register_with_qa(&self, names: &[&str]) -> Result<()> {
        for name in names {
            let url = self.remote_url(name);
            self.write_registry_entry(
                name,
                &format!(
                    "name: {name}\nrepo: {url}\nsources:\n  dev:     {{ type: local, path: ./packages/{name}, editable: true }}\n  staging: {{ type: git, url: \"{url}\", ref: v1.1.0.dev0 }}\n  prod:    {{ type: git, url: \"{url}\", ref: v1.0.0 }}\n  qa:      {{ type: git, url: \"{url}\", ref: v1.1.0.dev0 }}\n"
                ),
            )?;
        }
        Ok(())
    }

    pub fn write_registry_entry(&self, name: &str, yaml: &str) -> Result<()> {
        std::fs::write(
            self.core()
                .join("hpm-registry")
                .join(format!("{name}.yaml")),
            yaml,
        )?;
        Ok(())
    }

    pub fn write_manifest(&self, yaml: &str) -> Result<()> {
        std::fs::write(self.core().join("hpm.yaml"), yaml)?;
        Ok(())
    }

    pub fn read(&self, relative: &str) -> Result<String> {
        std::fs::read_to_string(self.core().join(relative)).with_context(|| relative.to_string())
    }

    /// The bytes of a core file, `None` when absent.
    pub fn bytes(&self, relative: &str) -> Option<Vec<u8>> {
        std::fs::read(self.core().join(relative)).ok()
    }

    /// This world's daemon socket: each world has a daemon of its own.
    pub fn socket(&self) -> PathBuf {
        self.root().join("hpmd.sock")
    }

    /// An `hpmctl` command run in the core folder, talking to this world's
    /// daemon (started on first use with this command's environment).
    pub fn hpmctl(&self) -> Command {
        let mut command = Command::new(hpmctl_path());
        command
            .current_dir(self.core())
            .env_remove("RUN_MODE")
            .env_remove("HPM_UV")
            .env_remove("VIRTUAL_ENV")
            .env_remove("HPM_NO_DAEMON")
            .env("HPM_SOCKET", self.socket())
            .env("HPM_IDLE_TIMEOUT", "120")
            .env("HPM_CACHE_DIR", self.root().join("cache"))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .stdin(Stdio::null());
        command
    }

    /// `hpmctl --no-daemon`: the engine runs in the command's own process,
    /// for tests that inject faults through its environment or kill it.
    pub fn hpmctl_in_process(&self) -> Command {
        let mut command = self.hpmctl();
        command.arg("--no-daemon");
        command
    }

    /// Runs `hpmctl ARGS` and returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        match self.hpmctl().args(args).output() {
            Ok(output) => output,
            Err(error) => panic_free_output(&format!(
                "cannot run {}: {error} (build the binaries first: cargo build --workspace, as tests/run does)",
                hpmctl_path().display()
            )),
        }
    }

    /// Runs `hpmctl ARGS` and fails with its output unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Result<Output> {
        let output = self.run(args);
        if !output.status.success() {
            bail!(
                "hpmctl {} failed ({}):\n{}",
                args.join(" "),
                output.status,
                describe(&output)
            );
        }
        Ok(output)
    }

    /// Starts the daemon logging at `level` (`HPM_LOG`) to
    /// `<state>/hpm/hpmd.log` (`XDG_STATE_HOME`).
    pub fn start_logging_daemon(&self, state: &Path, level: &str) -> Result<()> {
        let started = self
            .hpmctl()
            .env("XDG_STATE_HOME", state)
            .env("HPM_LOG", level)
            .args(["daemon", "start"])
            .output()?;
        anyhow::ensure!(started.status.success(), "{}", describe(&started));
        Ok(())
    }

    /// Restarts this world's daemon with a watch cap of one folder
    /// (`HPMD_MAX_WATCHES=1`) and waits until its workspace is polled.
    pub fn start_polled_daemon(&self) -> Result<()> {
        self.ok(&["daemon", "stop"])?;
        let started = self
            .hpmctl()
            .args(["daemon", "start"])
            .env("HPMD_MAX_WATCHES", "1")
            .output()?;
        anyhow::ensure!(started.status.success(), "{}", describe(&started));
        wait_for("the workspace to be polled", || {
            self.ok(&["status", "--json"])
                .ok()
                .and_then(|out| serde_json::from_slice::<serde_json::Value>(&out.stdout).ok())
                .is_some_and(|status| status["watching"] == "polling")
        })
    }

    /// What `import <module>; print(module.VERSION)` prints in the core's venv.
    pub fn imported_version(&self, package: &str) -> Result<String> {
        let module = module_name(package);
        let output = Command::new(self.core().join(".venv/bin/python"))
            .args(["-c", &format!("import {module}; print({module}.VERSION)")])
            .output()?;
        if !output.status.success() {
            bail!("import {module} failed:\n{}", describe(&output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

fn plugin_pyproject(name: &str, release: &Release<'_>) -> String {
    let dependencies: Vec<String> = release
        .dependencies
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect();
    format!(
        "[project]\nname = \"{name}\"\nversion = \"{}\"\nrequires-python = \">=3.8\"\ndependencies = [{}]\n\n\
         [project.optional-dependencies]\nfast = []\n\n\
         [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n{}",
        release.version,
        dependencies.join(", "),
        release.extra_toml
    )
}

/// Runs git with a fixed identity, failing with its stderr.
/// What `git ARGS` run in `dir` prints; an error with its output when it
/// fails.
pub fn git_output(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git").current_dir(dir).args(args).output()?;
    if !output.status.success() {
        bail!("git {} failed:\n{}", args.join(" "), describe(&output));
    }
    Ok(stdout(&output))
}

/// The `[[package]]` block of `name` in a `uv.lock`'s text ("" when none).
pub fn locked_block<'a>(lock: &'a str, name: &str) -> &'a str {
    lock.split("[[package]]")
        .find(|block| block.contains(&format!("name = \"{name}\"\n")))
        .unwrap_or_default()
}

pub fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=hpm tests",
            "-c",
            "user.email=tests@hpm.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()?;
    if !output.status.success() {
        bail!("git {} failed:\n{}", args.join(" "), describe(&output));
    }
    Ok(())
}

/// stdout and stderr of a finished command, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn panic_free_output(message: &str) -> Output {
    use std::os::unix::process::ExitStatusExt;
    Output {
        status: std::process::ExitStatus::from_raw(127 << 8),
        stdout: Vec::new(),
        stderr: message.as_bytes().to_vec(),
    }
}

/// The `hpmctl` built beside this test binary (`tests/run` builds it before
/// testing); `HPMCTL` overrides.
pub fn hpmctl_path() -> PathBuf {
    if let Some(path) = std::env::var_os("HPMCTL") {
        return PathBuf::from(path);
    }
    target_dir().join("hpmctl")
}

/// `target/<profile>`, found from the running executable.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// A fake `uv` for faults real uv cannot be made to show on demand: a shell
/// script that answers `--version` with `version` and otherwise runs `body`.
pub fn fake_uv(dir: &Path, version: &str, body: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("fake-uv-{}", std::process::id()));
    std::fs::write(
        &path,
        format!("#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo \"uv {version} (fake)\"; exit 0; fi\n{body}\n"),
    )?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// A fake uv in `dir` that writes its pid (the leader of its process group)
/// to the answered file, then waits on a child in its group for a minute:
/// a sync that runs it hangs until it is cancelled or killed.
pub fn hanging_uv(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let pid_file = dir.join("uv.pid");
    let _ = std::fs::remove_file(&pid_file);
    let uv = fake_uv(
        dir,
        "0.9.0",
        // Written whole, then renamed: a reader never sees an empty file.
        &format!(
            "echo $$ > {pid}.part && mv {pid}.part {pid}\nsleep 60 & wait",
            pid = pid_file.display()
        ),
    )?;
    Ok((uv, pid_file))
}

/// Where a [`gated_uv`] waits before it runs the real uv.
pub enum Gate<'a> {
    /// Until this file exists: every run is held until the test creates it.
    Until(&'a Path),
    /// While this file exists: runs pass until the test creates it, then
    /// wait until the test removes it.
    While(&'a Path),
}

/// The real uv behind a gate, so that a test can act while a job runs: a
/// script that writes its pid to `pid_file` (whole, then renamed: a reader
/// never sees an empty file), waits at `gate`, then runs the real uv.
pub fn gated_uv(dir: &Path, gate: Gate, pid_file: &Path) -> Result<PathBuf> {
    let uv = hpm_engine::uv::Uv::find()?;
    let wait = match gate {
        Gate::Until(file) => format!("while [ ! -e {} ]", file.display()),
        Gate::While(file) => format!("while [ -e {} ]", file.display()),
    };
    let _ = std::fs::remove_file(pid_file);
    fake_uv(
        dir,
        &uv.version,
        &format!(
            "echo $$ > {pid}.part && mv {pid}.part {pid}\n{wait}; do sleep 0.05; done\nexec {uv} \"$@\"",
            pid = pid_file.display(),
            uv = uv.path.display()
        ),
    )
}

/// SIGKILL to the process group whose leader's pid `pid_file` holds. A
/// pid that does not parse, or is 1 or less, is refused: `kill -9 -` or a
/// group of 0 or -1 would reach far more than the test's processes.
pub fn kill_group(pid_file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(pid_file)?;
    let pid: i32 = text
        .trim()
        .parse()
        .with_context(|| format!("`{}` holds no pid: {text:?}", pid_file.display()))?;
    anyhow::ensure!(pid > 1, "refusing to signal group {pid}");
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    Ok(())
}

/// A daemon of another version (`HPMD_REPORT_VERSION`) runs a switch whose
/// uv waits for a gate; a client of this version asking for a plain
/// `status` must wait for the job (saying so) instead of replacing the
/// daemon under it, and the switch must end `synced`. `world` is synced,
/// with no daemon running.
pub fn replacing_a_daemon_mid_job_waits_for_the_job(world: &World) -> Result<()> {
    let release = world.root().join("release-uv");
    let started = world.root().join("uv.pid");
    let gated = gated_uv(world.root(), Gate::Until(&release), &started)?;
    let mut old = Command::new(target_dir().join("hpmd"))
        .args(["--socket", &world.socket().display().to_string()])
        .env("HPMD_REPORT_VERSION", "0.0.1-old")
        .env("HPM_UV", &gated)
        .env("HPM_CACHE_DIR", world.root().join("cache"))
        .stdin(Stdio::null())
        .spawn()?;
    wait_for("the old daemon", || world.socket().exists())?;
    // Ask for the switch over the RPC directly (hpmctl of this version
    // would replace the daemon first).
    let root = world.core().display().to_string();
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"hpm_apply","params":["{root}",{{"kind":"switch","mode":"prod"}}]}}"#
    );
    let apply = Command::new("curl")
        .args([
            "-s",
            "--unix-socket",
            &world.socket().display().to_string(),
            "http://localhost/",
            "-H",
            "content-type: application/json",
            "-d",
            &body,
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    wait_for("the old daemon's uv to start", || started.exists())?;
    let mut status = world
        .hpmctl()
        .arg("status")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        use std::io::Read;
        let mut pipe = status
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let said = said.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                if let Ok(mut said) = said.lock() {
                    said.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }
        })
    };
    // The new client waits, saying so; only then is the job let go.
    wait_for("the new client to wait for the job", || {
        said.lock()
            .is_ok_and(|said| said.contains("waiting for it to end"))
    })?;
    std::fs::write(&release, "")?;
    let answer = apply.wait_with_output()?;
    let answer = String::from_utf8_lossy(&answer.stdout).into_owned();
    anyhow::ensure!(
        answer.contains("\"outcome\":\"synced\""),
        "the switch was cancelled: {answer}"
    );
    let exit = status.wait()?;
    let _ = reader.join();
    let said = said.lock().map(|s| s.clone()).unwrap_or_default();
    anyhow::ensure!(exit.success(), "{said}");
    anyhow::ensure!(said.contains("replacing hpmd 0.0.1-old"), "{said}");
    anyhow::ensure!(old.wait()?.success(), "the old daemon did not exit cleanly");
    Ok(())
}

/// Kills an in-process `switch MODE` while its (hanging) uv runs, leaving
/// a journal; the orphaned uv is killed too.
pub fn crash_mid_switch(world: &World, mode: &str) -> Result<()> {
    let (hanging, pid_file) = hanging_uv(world.root())?;
    let mut child = world
        .hpmctl_in_process()
        .args(["switch", mode])
        .env("HPM_UV", &hanging)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_for("uv to start", || pid_file.exists())?;
    child.kill()?;
    child.wait()?;
    kill_group(&pid_file)?;
    anyhow::ensure!(world.core().join(".hpm/journal/journal.json").exists());
    Ok(())
}

/// How many inotify watches process `pid` holds.
pub fn inotify_watches(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_to_string(fd.path()).ok())
        .map(|info| {
            info.lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count()
        })
        .sum()
}

/// `hpm_hello` posted to the daemon at `socket` with curl, as this user or
/// (through `setpriv`, which needs root) as user `as_uid`.
pub fn curl_hello(socket: &Path, as_uid: Option<u32>) -> Result<Output> {
    let mut command = match as_uid {
        Some(uid) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .args(["--clear-groups", "curl"]);
            command
        }
        None => Command::new("curl"),
    };
    Ok(command
        .args(["-sS", "--max-time", "5", "--unix-socket"])
        .arg(socket)
        .args([
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"jsonrpc":"2.0","id":1,"method":"hpm_hello"}"#,
            "http://localhost/",
        ])
        .output()?)
}

/// A JSON-RPC client of the daemon at `socket`, on a connection of its own
/// (use it through `hpm_protocol::HpmApiClient`).
pub async fn rpc_client(socket: &Path) -> Result<jsonrpsee::ws_client::WsClient> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    Ok(jsonrpsee::ws_client::WsClientBuilder::default()
        .request_timeout(std::time::Duration::from_secs(600))
        .build_with_stream("ws://localhost", stream)
        .await?)
}

/// Waits up to a minute for `condition`, checking every 20 ms.
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !condition() {
        if std::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// `hpmctl events --json` running in the background, its lines collected
/// by a reader thread; killed when dropped.
#[derive(Debug)]
pub struct EventStream {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl EventStream {
    /// Subscribes to `world`'s daemon (starting it if needed) and waits until
    /// the subscription is live, so that no later event is missed.
    pub fn follow(world: &World) -> Result<EventStream> {
        use std::io::BufRead;
        let mut child = world
            .hpmctl()
            .args(["events", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    sink.lock().map(|mut l| l.push(line)).ok();
                }
            });
        }
        let stream = EventStream { child, lines };
        // A status read emits no event, but a sync does: wait until the
        // daemon knows the subscriber by asking it to do a no-op sync and
        // seeing its events arrive.
        wait_for("the event subscription", || {
            let _ = world.run(&["sync"]);
            !stream.events().is_empty()
        })?;
        Ok(stream)
    }

    /// Every event received so far, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|line| serde_json::from_str(line).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The events after `mark` (a [`EventStream::len`]) named `name`.
    pub fn named_since(&self, mark: usize, name: &str) -> Vec<serde_json::Value> {
        self.since(mark)
            .into_iter()
            .filter(|event| event["event"] == name)
            .collect()
    }

    /// How many events have arrived; a mark to look past later.
    pub fn len(&self) -> usize {
        self.events().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events after `mark` (a [`EventStream::len`]).
    pub fn since(&self, mark: usize) -> Vec<serde_json::Value> {
        self.events().into_iter().skip(mark).collect()
    }

    /// Waits until an event after `mark` satisfies `matches`; returns it.
    pub fn wait(
        &self,
        mark: usize,
        what: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        let mut found = None;
        wait_for(what, || {
            found = self.since(mark).into_iter().find(|event| matches(event));
            found.is_some()
        })
        .with_context(|| format!("events so far: {:#?}", self.since(mark)))?;
        found.context("no event")
    }

    /// Waits for the end (`job_finished`) of the first job that started
    /// after `mark`; a job that was already running at `mark` is not it.
    pub fn wait_job_finished(&self, mark: usize, what: &str) -> Result<serde_json::Value> {
        let started = self.wait(mark, what, |e| e["event"] == "job_started")?;
        let job = started["job"].clone();
        self.wait(mark, what, |e| {
            e["event"] == "job_finished" && e["job"] == job
        })
    }
}

impl EventStream {
    /// A positive barrier for "nothing else happened": queues a forced sync
    /// (`sync --force`, which the watcher never asks for) on the
    /// workspace's actor and waits for it to start. The actor runs jobs in
    /// the order they were queued, so every job queued before the barrier
    /// started before it. Answers the jobs (their `job_started` events)
    /// after `mark` that are not the barrier.
    pub fn jobs_before_barrier(
        &self,
        world: &World,
        mark: usize,
    ) -> Result<Vec<serde_json::Value>> {
        let barrier_mark = self.len();
        let mut sync = world.hpmctl();
        let _ = sync
            .args(["sync", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let is_barrier = |e: &serde_json::Value| {
            e["event"] == "job_started"
                && e["change"]["kind"] == "sync"
                && e["change"]["force"] == true
        };
        self.wait(barrier_mark, "the barrier sync to start", is_barrier)?;
        let events = self.since(mark);
        let barrier_at = events.iter().position(is_barrier).unwrap_or(events.len());
        Ok(events[..barrier_at]
            .iter()
            .filter(|e| e["event"] == "job_started")
            .cloned()
            .collect())
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// uv's manner of snapshot filters: this world's temporary root becomes
/// `[ROOT]`, commit hashes (12 to 40 hex digits) `[HASH]`, and a pid in
/// `pid N` becomes `pid [PID]`, so a snapshot says what hpm printed and
/// nothing about the machine or the run.
pub fn redact(world: &World, text: &str) -> String {
    let root = world.root().display().to_string();
    let text = text.replace(&root, "[ROOT]");
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = (12..=40).contains(&word.len())
            && word.chars().all(|c| c.is_ascii_hexdigit())
            && word.chars().any(|c| c.is_ascii_digit());
        out.push_str(if hex { "[HASH]" } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    let mut redacted = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("pid ") {
        redacted.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            redacted.push_str("[PID]");
            rest = &rest[digits..];
        }
    }
    redacted.push_str(rest);
    redacted
}
