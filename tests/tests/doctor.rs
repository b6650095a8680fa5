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
