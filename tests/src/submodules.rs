//! A product in the seeds' layout, built for real, for `hpmctl import`:
//! two package repos with tags on `file://` remotes, the core with `git
//! submodule add`, a `[tool.uv.workspace]` root, hand-kept `staging/` and
//! `prod/` pyprojects pinning tags (prod locked), one package with
//! uncommitted work and one with an unpushed commit. Shared by the import
//! tests and the reliability suite's import kills.

use std::process::Command;

use anyhow::Result;

use crate::{describe, git, git_output, module_name, Release, World};

/// A hand-kept mode file pinning the two packages at these tags.
fn mode_file(interface: &str, qwen: &str, world: &World) -> String {
    format!(
        "[project]\nname = \"core-app-env\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
         dependencies = [\"model-interface\", \"model_qwen2.5-vl\"]\n\n[tool.uv.sources]\n\
         model-interface = {{ git = \"{}\", tag = \"{interface}\" }}\n\
         \"model_qwen2.5-vl\" = {{ git = \"{}\", tag = \"{qwen}\" }}\n",
        world.remote_url("model-interface"),
        world.remote_url("model-qwen2-5-vl"),
    )
}

/// The product, its submodules not detached, nothing imported.
pub fn product() -> Result<World> {
    let world = World::new()?;
    world.add_plugin(
        "model-interface",
        &[
            Release::new("v0.1.0", "0.1.0"),
            Release::new("v0.2.0.dev0", "0.2.0.dev0"),
        ],
    )?;
    world.add_plugin(
        "model-qwen2-5-vl",
        &[Release::new("v0.1.0", "0.1.0").depending_on(&["model-interface"])],
    )?;
    let core = world.core();
    std::fs::remove_dir_all(core.join("hpm-registry"))?;
    std::fs::write(
        core.join("pyproject.toml"),
        "# the core, hand-written\n[project]\nname = \"core-app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
         dependencies = [\"model-interface\", \"model-qwen2-5-vl\"]\n\n\
         [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
         [tool.hatch.build.targets.wheel]\npackages = [\"src/core_app\"]\n\n\
         [tool.uv.workspace]\nmembers = [\"packages/*\"]\n\n\
         [tool.uv.sources]\nmodel-interface = { workspace = true }\nmodel-qwen2-5-vl = { workspace = true }\n",
    )?;
    for (mode, interface) in [("staging", "v0.2.0.dev0"), ("prod", "v0.1.0")] {
        std::fs::create_dir_all(core.join(mode))?;
        std::fs::write(
            core.join(mode).join("pyproject.toml"),
            mode_file(interface, "v0.1.0", &world),
        )?;
    }
    let uv = hpm_engine::uv::Uv::find()?.path;
    let locked = Command::new(&uv)
        .arg("lock")
        .current_dir(core.join("prod"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .output()?;
    anyhow::ensure!(locked.status.success(), "{}", describe(&locked));
    git(&core, &["init", "-q", "-b", "main"])?;
    for name in ["model-interface", "model-qwen2-5-vl"] {
        let url = world.remote_url(name);
        git(
            &core,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                &url,
                &format!("packages/{name}"),
            ],
        )?;
    }
    git(&core, &["add", "-A"])?;
    git(&core, &["commit", "-q", "-m", "the product"])?;
    // Uncommitted work in one package, an unpushed commit in the other.
    let interface = core.join("packages/model-interface");
    std::fs::write(interface.join("wip.txt"), "work in progress\n")?;
    let module = interface
        .join(module_name("model-interface"))
        .join("__init__.py");
    std::fs::write(&module, "VERSION = \"0.2.0.dev0\"\nEDITED = True\n")?;
    let qwen = core.join("packages/model-qwen2-5-vl");
    std::fs::write(qwen.join("local.txt"), "local\n")?;
    git(&qwen, &["add", "local.txt"])?;
    git(&qwen, &["commit", "-q", "-m", "local work"])?;
    Ok(world)
}

/// What must be the same after a failed import: the core's index,
/// `.gitmodules` and config, each clone's git link, status and last commit.
pub fn snapshot(world: &World) -> Result<Vec<String>> {
    let core = world.core();
    let mut seen = vec![
        git_output(&core, &["ls-files", "-s"])?,
        git_output(&core, &["status", "--porcelain"])?,
        std::fs::read_to_string(core.join(".gitmodules"))?,
        std::fs::read_to_string(core.join(".git/config"))?,
    ];
    for name in ["model-interface", "model-qwen2-5-vl"] {
        let clone = core.join("packages").join(name);
        seen.push(std::fs::read_to_string(clone.join(".git"))?);
        seen.push(git_output(&clone, &["status", "--porcelain"])?);
        seen.push(git_output(&clone, &["log", "--format=%H %s"])?);
        seen.push(git_output(&clone, &["stash", "list"])?);
    }
    Ok(seen)
}
