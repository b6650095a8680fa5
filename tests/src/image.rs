//! The prod image's fixtures, shared by tests/tests/image.rs and
//! `hpm-bench --image`: the container engine `tests/image-tools` started,
//! and a product to build.
//!
//! `tests/image-tools` exports `HPM_TEST_DOCKER` (Debian's docker CLI, with
//! BuildKit), `HPM_TEST_DOCKER_HOST` (a private dockerd),
//! `HPM_TEST_BASE_IMAGE` (debootstrap's Debian with python3, no git),
//! `HPM_TEST_BUILDER_IMAGE` (the same with git and uv), `HPM_TEST_REGISTRY`
//! (host:port) and `HPM_TEST_WHEELHOUSE` (hatchling's wheels, for the
//! offline builds of the packages).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};

use crate::{describe, git, stdout, Release, World};

/// What `tests/image-tools` set up.
pub struct Engine {
    pub docker: PathBuf,
    pub host: String,
    pub base: String,
    pub builder: String,
    pub registry: String,
    pub wheels: PathBuf,
}

impl Engine {
    pub fn from_env() -> Result<Engine> {
        let var = |name: &str| {
            std::env::var(name).with_context(|| {
                format!("{name} is not set: these tests need a container engine; run them through tests/run as root (tests/image-tools starts dockerd and a registry)")
            })
        };
        Ok(Engine {
            docker: PathBuf::from(var("HPM_TEST_DOCKER")?),
            host: var("HPM_TEST_DOCKER_HOST")?,
            base: var("HPM_TEST_BASE_IMAGE")?,
            builder: var("HPM_TEST_BUILDER_IMAGE")?,
            registry: var("HPM_TEST_REGISTRY")?,
            wheels: PathBuf::from(var("HPM_TEST_WHEELHOUSE")?),
        })
    }

    pub fn docker(&self, args: &[&str]) -> Result<Output> {
        Command::new(&self.docker)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_BUILDKIT", "1")
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.docker.display()))
    }

    pub fn docker_ok(&self, args: &[&str]) -> Result<String> {
        let output = self.docker(args)?;
        ensure!(
            output.status.success(),
            "docker {args:?}: {}",
            describe(&output)
        );
        Ok(stdout(&output))
    }

    /// The ids of every image the engine holds. A set: the engine lists
    /// images created in the same second in no fixed order.
    pub fn image_ids(&self) -> Result<BTreeSet<String>> {
        let listed = self.docker_ok(&["images", "--quiet", "--no-trunc"])?;
        Ok(listed.lines().map(str::to_string).collect())
    }

    /// `hpmctl` in `world`, with the engine's socket in its (and so its
    /// daemon's) environment.
    pub fn hpmctl(&self, world: &World, args: &[&str]) -> Command {
        let mut command = world.hpmctl();
        command.env("DOCKER_HOST", &self.host).args(args);
        command
    }

    /// The build options every test build passes: the offline bases, the
    /// wheelhouse, no network.
    pub fn build_args(&self) -> Vec<String> {
        [
            "--engine",
            &self.docker.display().to_string(),
            "--base-image",
            &self.base,
            "--builder-image",
            &self.builder,
            "--python",
            "/usr/bin/python3",
            "--find-links",
            &self.wheels.display().to_string(),
            "--network",
            "none",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// A product: the core (a git repository, with a `core-app` script that
/// prints its plugins' versions) and two plugins at `v1.0.0` in prod, on
/// `file://` remotes; synced in prod.
pub fn product() -> Result<World> {
    let world = World::new()?;
    for name in ["plugin-a", "plugin-b"] {
        world.add_plugin(
            name,
            &[
                Release::new("v1.0.0", "1.0.0"),
                Release::new("v1.1.0.dev0", "1.1.0.dev0"),
            ],
        )?;
        world.register(name, "v1.1.0.dev0", "v1.0.0")?;
    }
    let core = world.core();
    let pyproject = world.read("pyproject.toml")?.replace(
        "[build-system]",
        "[project.scripts]\ncore-app = \"core_app:main\"\n\n[build-system]",
    );
    std::fs::write(core.join("pyproject.toml"), pyproject)?;
    write_app(&core, "hello")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [plugin-a, plugin-b]\n",
    )?;
    std::fs::write(core.join(".gitignore"), ".hpm/\n.venv/\n")?;
    git(&core, &["init", "-q", "-b", "main"])?;
    git(&core, &["add", "-A"])?;
    git(&core, &["commit", "-q", "-m", "the core"])?;
    world.ok(&["--no-daemon", "sync"])?;
    git(&core, &["add", "-A"])?;
    git(&core, &["commit", "-q", "-m", "prod"])?;
    Ok(world)
}

/// The core's module: `main` prints `greeting`, then each plugin's version.
pub fn write_app(core: &Path, greeting: &str) -> Result<()> {
    std::fs::write(
        core.join("src/core_app/__init__.py"),
        format!(
            "import plugin_a, plugin_b\n\n\ndef main():\n    print(\"{greeting}\", \"plugin-a\", plugin_a.VERSION, \"plugin-b\", plugin_b.VERSION)\n"
        ),
    )?;
    Ok(())
}
