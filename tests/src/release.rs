//! Release worlds: plugin repositories with histories to release, a core
//! that is a git repository with its own remote, and a fake forge; shared
//! by the release tests and the benchmark.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::forge::{FakeForge, TOKEN};
use crate::{describe, git, git_output, Release, World};

/// A world to release from: plugins with releases `v1.0.0` and
/// `v1.1.0.dev0` and one new commit on their dev clones, registry entries
/// (staging at the dev tag, prod at the stable one, a comment by hand), a
/// core that is a git repository with a remote and a commit of its own,
/// and a fake forge.
pub struct ReleaseWorld {
    pub world: World,
    pub forge: FakeForge,
}

/// `release:` settings for GitHub (the fake forge's address comes from
/// `HPM_FORGE_API`).
pub const GITHUB: &str = "release:\n  forge: github\n";

impl ReleaseWorld {
    /// `plugins`: each name with the plugins it depends on (listed before
    /// it); `extra` is appended to `hpm.yaml`.
    pub fn new(plugins: &[(&str, &[&str])], extra: &str) -> Result<ReleaseWorld> {
        let world = World::new()?;
        for (name, dependencies) in plugins {
            world.add_plugin(
                name,
                &[
                    Release::new("v1.0.0", "1.0.0").depending_on(dependencies),
                    Release::new("v1.1.0.dev0", "1.1.0.dev0").depending_on(dependencies),
                ],
            )?;
        }
        for (name, _) in plugins {
            let name = *name;
            world.register(name, "v1.1.0.dev0", "v1.0.0")?;
            // A comment the registry edit must keep.
            let file = world.core().join(format!("hpm-registry/{name}.yaml"));
            let text = std::fs::read_to_string(&file)?;
            std::fs::write(&file, format!("# {name}: kept by hand\n{text}"))?;
            let clone = world.clone_for_dev(name)?;
            let module = crate::module_name(name);
            std::fs::write(
                clone.join(&module).join("feature.py"),
                format!("NAME = \"{name}\"\n"),
            )?;
            git(&clone, &["add", "-A"])?;
            git(
                &clone,
                &[
                    "commit",
                    "-q",
                    "-m",
                    &format!("feat: {name} learns its name"),
                ],
            )?;
        }
        let names: Vec<&str> = plugins.iter().map(|(name, _)| *name).collect();
        world.write_manifest(&format!(
            "version: 1\nmode: dev\nregistry: ./hpm-registry\npackages: [{}]\n{extra}",
            names.join(", ")
        ))?;
        let core = world.core();
        std::fs::write(
            core.join(".gitignore"),
            "packages/\n.venv/\n.hpm/\nuv.lock\n",
        )?;
        git(&core, &["init", "-q", "-b", "main"])?;
        git(&core, &["add", "-A"])?;
        git(&core, &["commit", "-q", "-m", "feat: the core"])?;
        let remote = world.root().join("remotes/core-app.git");
        git(
            world.root(),
            &[
                "clone",
                "-q",
                "--bare",
                &core.display().to_string(),
                &remote.display().to_string(),
            ],
        )?;
        git(
            &core,
            &[
                "remote",
                "add",
                "origin",
                &format!("file://{}", remote.display()),
            ],
        )?;
        git(&core, &["fetch", "-q", "origin"])?;
        git(
            &core,
            &["branch", "-q", "--set-upstream-to=origin/main", "main"],
        )?;
        std::fs::write(
            world.root().join("gitconfig"),
            "[user]\n\tname = hpm release tests\n\temail = release@hpm.invalid\n[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n",
        )?;
        let forge = FakeForge::start()?;
        Ok(ReleaseWorld { world, forge })
    }

    /// The global git configuration hpmctl's git reads (the user's
    /// `~/.gitconfig` stands aside).
    pub fn git_config(&self) -> PathBuf {
        self.world.root().join("gitconfig")
    }

    /// `hpmctl ARGS` with the forge's address and token, and a git identity.
    pub fn hpmctl(&self, args: &[&str]) -> Command {
        let mut command = self.world.hpmctl_in_process();
        command
            .args(args)
            .env("HPM_FORGE_API", self.forge.url())
            .env("GITHUB_TOKEN", TOKEN)
            .env("GIT_CONFIG_GLOBAL", self.git_config())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove(hpm_engine::ops::release::CRASH_AFTER);
        command
    }

    pub fn run(&self, args: &[&str]) -> Result<Output> {
        Ok(self.hpmctl(args).output()?)
    }

    pub fn ok(&self, args: &[&str]) -> Result<Output> {
        let output = self.run(args)?;
        ensure!(
            output.status.success(),
            "hpmctl {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            describe(&output)
        );
        Ok(output)
    }

    /// Plans a release and returns its id.
    pub fn plan(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["--json", "release", "plan"];
        all.extend(args);
        let output = self.ok(&all)?;
        let report: Value = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("the plan is not JSON:\n{}", describe(&output)))?;
        report["id"]
            .as_str()
            .map(str::to_string)
            .context("the plan has no id")
    }

    /// The JSON report of `hpmctl --json [--dry-run] release apply ID --yes --notes auto`.
    pub fn apply(&self, id: &str, dry_run: bool) -> Result<(Output, Value)> {
        let mut args = vec!["--json"];
        if dry_run {
            args.push("--dry-run");
        }
        args.extend(["release", "apply", id, "--yes", "--notes", "auto"]);
        let output = self.run(&args)?;
        let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        Ok((output, report))
    }

    /// Checks release `id` reached its end with nothing done twice: each
    /// of `names` has one published release on the forge, one release
    /// commit and one tag on its remote's `main`; `alpha`'s registry entry
    /// names the new tag once.
    pub fn released_once(&self, id: &str, names: &[&str]) -> Result<()> {
        for name in names {
            let releases = self.forge.releases(&format!("remotes/{name}"));
            ensure!(
                releases.len() == 1 && releases[0]["draft"] == false,
                "{name}: the forge has {releases:?}"
            );
            let commits = git_output(
                &self.remote(name),
                &[
                    "log",
                    "--format=%H",
                    &format!("--grep=Hpm-Release-Id: {id}"),
                    "main",
                ],
            )?;
            ensure!(
                commits.lines().count() == 1,
                "{name}: release commits {commits:?}"
            );
            let tags = git_output(&self.remote(name), &["tag", "--points-at", "main"])?;
            ensure!(tags.lines().count() == 1, "{name}: tags {tags:?}");
        }
        let entry = self.world.read("hpm-registry/alpha.yaml")?;
        ensure!(
            entry.matches("v1.1.0.dev1").count() == 1,
            "alpha's entry: {entry}"
        );
        Ok(())
    }

    pub fn remote(&self, name: &str) -> PathBuf {
        self.world
            .root()
            .join("remotes")
            .join(format!("{name}.git"))
    }

    pub fn clone_of(&self, name: &str) -> PathBuf {
        if name == "core-app" {
            self.world.core()
        } else {
            self.world.core().join("packages").join(name)
        }
    }
}
