//! `hpmctl doctor`: git, uv and the daemon found with their versions, and
//! each remote the workspace uses asked with the caller's git, a failure
//! with its fix.

use hpm_tests::{describe, stdout, World};
use serde_json::Value;

#[test]
fn doctor_names_each_remote_that_does_not_answer_and_exits_1() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    let vanished = format!("file://{}/vanished.git", world.root().display());
    world.write_registry_entry(
        "plugin-b",
        &format!(
            "name: plugin-b\nsources:\n  prod: {{ type: git, url: \"{vanished}\", tag: v1 }}\n"
        ),
    )?;
    world.write_manifest(
        "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\n",
    )?;
    for daemon in [true, false] {
        let args: &[&str] = if daemon {
            &["--json", "doctor"]
        } else {
            &["--no-daemon", "--json", "doctor"]
        };
        let output = world.run(args);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        // The report, then (as `check --json` does) the failure's own JSON.
        let text = stdout(&output);
        let report: Value = serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no JSON: {}", describe(&output)))??;
        assert_eq!(report["ok"], false, "{report}");
        let check = |subject: &str, name: &str| {
            report["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| {
                    c["subject"] == subject && c["name"].as_str().unwrap_or("").contains(name)
                })
                .cloned()
        };
        let git = check("git", "git").ok_or_else(|| anyhow::anyhow!("no git check: {report}"))?;
        assert!(
            git["ok"] == true
                && git["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("git version"),
            "{git}"
        );
        let uv = check("uv", "uv").ok_or_else(|| anyhow::anyhow!("no uv check: {report}"))?;
        assert_eq!(uv["ok"], true, "{uv}");
        assert_eq!(check("daemon", "").is_some(), daemon, "{report}");
        let good = check("remote", "plugin-a.git").ok_or_else(|| anyhow::anyhow!("{report}"))?;
        assert_eq!(good["ok"], true, "{good}");
        let bad = check("remote", "vanished.git").ok_or_else(|| anyhow::anyhow!("{report}"))?;
        assert_eq!(bad["ok"], false, "{bad}");
        assert!(
            bad["detail"]
                .as_str()
                .unwrap_or("")
                .contains("does not appear to be a git repository"),
            "{bad}"
        );
        assert!(bad["hint"].as_str().is_some(), "{bad}");
    }
    let text = world.run(&["doctor"]);
    let said = stdout(&text);
    assert!(
        said.contains("FAIL remote") && said.contains("hint: "),
        "{}",
        describe(&text)
    );
    Ok(())
}

/// A uv that is a script (a version manager's shim, as pyenv's) starts a
/// shell before every uv call hpm makes: doctor says so, measured, with
/// the way to point hpm at the binary; uv's binary itself gets no hint.
#[test]
fn doctor_says_when_uv_is_a_shim_and_how_to_skip_it() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let world = World::with_dev_plugins(&["plugin-a"])?;
    let found = hpm_engine::uv::Uv::find()?.path;
    let binary = match hpm_engine::uv::is_script(&found) {
        true => hpm_engine::uv::uv_from_python_package().ok_or_else(|| {
            anyhow::anyhow!("{} is a script and python3 has no uv", found.display())
        })?,
        false => found,
    };
    let shims = world.root().join("shims");
    std::fs::create_dir_all(&shims)?;
    let shim = shims.join("uv");
    std::fs::write(
        &shim,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", binary.display()),
    )?;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755))?;
    let folder = binary
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no folder"))?;

    for (first, is_shim) in [(shims.as_path(), true), (folder, false)] {
        let path = std::env::join_paths(std::iter::once(first.to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))?;
        let output = world
            .hpmctl()
            .env("PATH", path)
            .args(["--no-daemon", "--json", "doctor"])
            .output()?;
        let report: Value = serde_json::Deserializer::from_str(&stdout(&output))
            .into_iter::<Value>()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no JSON: {}", describe(&output)))??;
        let uv = report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|check| check["subject"] == "uv")
            .ok_or_else(|| anyhow::anyhow!("no uv check: {report}"))?;
        assert_eq!(uv["ok"], true, "{uv}");
        let hint = uv["hint"].as_str().unwrap_or_default();
        if is_shim {
            assert!(
                uv["name"] == shim.display().to_string()
                    && hint.contains("is a script")
                    && hint.contains("HPM_UV"),
                "{uv}"
            );
        } else {
            assert!(uv["hint"].is_null(), "{uv}");
        }
    }
    Ok(())
}
