//! The whole product moves in and runs in every mode: one world shaped like
//! the product that found issue 28, imported and then driven through each
//! mode, with `check` after every step.
//!
//! The core holds seven submodules on `file://` remotes: six packages of a
//! uv workspace (`packages/*`) and a tool installed by path in a dependency
//! group (`release_tool`). Hand-kept `staging/` and `prod/` pyprojects give
//! every git source `subdirectory = "."`; prod's file is written with CRLF
//! and gives `bench-utils` a tag although its dependencies do not list it;
//! `model-qwen2-5-vl`'s staging tag names a sibling with
//! `{ workspace = true }`; `prompt_handler` is spelled `prompt-handler` by
//! the core; `vision-encoder`'s submodule is on `dev_branch` with a commit
//! it never pushed.

use hpm_tests::{describe, git, git_output, locked_block, stderr, stdout, Release, World};

const PACKAGES: [&str; 6] = [
    "model-interface",
    "model-qwen2-5-vl",
    "prompt_handler",
    "bench-utils",
    "vision-encoder",
    "tokenizer-kit",
];

/// How the core's files spell each package (the user's spelling).
fn spelled(name: &str) -> &str {
    match name {
        "prompt_handler" => "prompt-handler",
        other => other,
    }
}

/// A hand-kept mode file: `dependencies` lists `depends`, the sources give
/// every package in `PACKAGES` the tag, each with `subdirectory = "."`.
fn mode_file(world: &World, depends: &[&str], tag: &str, newline: &str) -> String {
    let dependencies: Vec<String> = depends
        .iter()
        .map(|name| format!("\"{}\"", spelled(name)))
        .collect();
    let mut file = format!(
        "[project]\nname = \"core-app-env\"\nversion = \"0.1.0\"\nrequires-python = \">=3.10, <3.13\"\n\
         dependencies = [{}]\n\n[tool.uv.sources]\n",
        dependencies.join(", ")
    );
    for name in PACKAGES {
        file.push_str(&format!(
            "{} = {{ git = \"{}\", tag = \"{tag}\", subdirectory = \".\" }}\n",
            spelled(name),
            world.remote_url(name)
        ));
    }
    file.replace('\n', newline)
}

fn the_product() -> anyhow::Result<World> {
    let world = World::new()?;
    for name in PACKAGES {
        let (prod, staging) = match name {
            "model-qwen2-5-vl" => (
                Release::new("v0.1.0", "0.1.0").depending_on(&["model-interface"]),
                Release::new("v0.2.0.dev0", "0.2.0.dev0")
                    .depending_on(&["model-interface"])
                    .with_toml("\n[tool.uv.sources]\nmodel-interface = { workspace = true }\n"),
            ),
            _ => (
                Release::new("v0.1.0", "0.1.0"),
                Release::new("v0.2.0.dev0", "0.2.0.dev0"),
            ),
        };
        world.add_plugin(name, &[prod, staging])?;
    }
    world.add_plugin("release-tool", &[Release::new("v0.3.0", "0.3.0")])?;

    let core = world.core();
    std::fs::remove_dir_all(core.join("hpm-registry"))?;
    let dependencies: Vec<String> = PACKAGES
        .iter()
        .map(|name| format!("\"{}\"", spelled(name)))
        .collect();
    let mut pyproject = format!(
        "# the core, hand-written\n[project]\nname = \"core-app\"\nversion = \"0.1.0\"\n\
         requires-python = \">=3.10, <3.13\"\ndependencies = [{}]\n\n\
         [dependency-groups]\ndev = [\"release-tool\"]\n\n\
         [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
         [tool.hatch.build.targets.wheel]\npackages = [\"src/core_app\"]\n\n\
         # every package of the product lives under packages/\n\
         [tool.uv.workspace]\nmembers = [\"packages/*\"]\n\n[tool.uv.sources]\n",
        dependencies.join(", ")
    );
    for name in PACKAGES {
        pyproject.push_str(&format!("{} = {{ workspace = true }}\n", spelled(name)));
    }
    pyproject.push_str("release-tool = { path = \"release_tool\" }\n");
    std::fs::write(core.join("pyproject.toml"), pyproject)?;
    std::fs::write(core.join(".python-version"), "3.11\n")?;
    std::fs::create_dir_all(core.join("staging"))?;
    std::fs::write(
        core.join("staging/pyproject.toml"),
        mode_file(&world, &PACKAGES, "v0.2.0.dev0", "\n"),
    )?;
    std::fs::create_dir_all(core.join("prod"))?;
    let prod_depends: Vec<&str> = PACKAGES
        .into_iter()
        .filter(|name| *name != "bench-utils")
        .collect();
    std::fs::write(
        core.join("prod/pyproject.toml"),
        mode_file(&world, &prod_depends, "v0.1.0", "\r\n"),
    )?;

    git(&core, &["init", "-q", "-b", "main"])?;
    for (name, path) in PACKAGES
        .iter()
        .map(|name| (*name, format!("packages/{name}")))
        .chain([("release-tool", "release_tool".to_string())])
    {
        git(
            &core,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                &world.remote_url(name),
                &path,
            ],
        )?;
    }
    git(&core, &["add", "-A"])?;
    git(&core, &["commit", "-q", "-m", "the product"])?;

    // vision-encoder is worked on on `dev_branch`, one commit not pushed.
    let vision = core.join("packages/vision-encoder");
    git(&vision, &["checkout", "-q", "-b", "dev_branch"])?;
    git(&vision, &["push", "-q", "origin", "dev_branch"])?;
    std::fs::write(vision.join("NOTES.md"), "not pushed yet\n")?;
    git(&vision, &["add", "NOTES.md"])?;
    git(&vision, &["commit", "-q", "-m", "unpushed work"])?;
    Ok(world)
}

/// The files that decide an environment, as bytes.
fn decided(world: &World) -> [Option<Vec<u8>>; 3] {
    ["pyproject.toml", "uv.lock", "hpm.yaml"].map(|file| world.bytes(file))
}

#[test]
fn the_product_moves_in_and_runs_in_every_mode() -> anyhow::Result<()> {
    let world = the_product()?;
    let core = world.core();

    // The dry run lists each submodule it would detach, and changes nothing.
    let before = decided(&world);
    let dry = world.ok(&["--no-daemon", "--dry-run", "import", "--detach-submodules"])?;
    for path in PACKAGES
        .iter()
        .map(|name| format!("packages/{name}"))
        .chain(["release_tool".to_string()])
    {
        assert!(stdout(&dry).contains(&path), "{path}: {}", describe(&dry));
    }
    assert_eq!(decided(&world), before);
    assert!(core.join(".gitmodules").is_file());

    let imported = world.ok(&[
        "--no-daemon",
        "import",
        "--detach-submodules",
        "--uv-arg=--no-progress",
    ])?;
    let said = stdout(&imported);
    world.ok(&["--no-daemon", "check"])?;

    // The user's spelling and comment stay; the tool keeps its path.
    let pyproject = world.read("pyproject.toml")?;
    assert!(pyproject.contains("\"prompt-handler\""), "{pyproject}");
    assert!(!pyproject.contains("\"prompt_handler\""), "{pyproject}");
    assert!(
        pyproject.contains("# every package of the product lives under packages/"),
        "{pyproject}"
    );
    assert!(
        pyproject.contains("release-tool = { path = \"release_tool\" }"),
        "{pyproject}"
    );

    // bench-utils keeps the tag only prod's file gave it, and import says so.
    let bench = world.read("hpm-registry/bench-utils.yaml")?;
    assert!(bench.contains("tag: \"v0.1.0\""), "{bench}");
    assert!(said.contains("bench-utils"), "{said}");
    // vision-encoder's branch is its dev branch; its unpushed commit stays.
    let vision_entry = world.read("hpm-registry/vision-encoder.yaml")?;
    assert!(
        vision_entry.contains("branch: \"dev_branch\""),
        "{vision_entry}"
    );
    let vision = core.join("packages/vision-encoder");
    assert_eq!(
        git_output(&vision, &["log", "-1", "--format=%s"])?.trim(),
        "unpushed work"
    );

    // The core's status shows only what the user should commit: the
    // submodules' removal and hpm's files, nothing of the clones.
    let status = git_output(&core, &["status", "--porcelain", "--untracked-files=all"])?;
    for line in status.lines() {
        let path = &line[3..];
        let expected = match &line[..2] {
            "D " => {
                path == ".gitmodules" || path.starts_with("packages/") || path == "release_tool"
            }
            " M" | "M " => path == "pyproject.toml",
            "??" => path == "hpm.yaml" || path == "uv.lock" || path.starts_with("hpm-registry/"),
            _ => false,
        };
        assert!(expected, "`{line}` in the core's status:\n{status}");
    }

    // prod: bench-utils from the tag prod's file gave it, the tool from its
    // folder; `check` passes.
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&["--no-daemon", "check"])?;
    assert_eq!(world.imported_version("bench-utils")?, "0.1.0");
    assert_eq!(world.imported_version("prompt_handler")?, "0.1.0");
    let lock = world.read("uv.lock")?;
    let tool = locked_block(&lock, "release-tool");
    assert!(tool.contains("release_tool"), "{tool}");

    // staging: qwen's tag needs its own workspace, refused before a write.
    let prod_files = decided(&world);
    let refused = world.run(&["--no-daemon", "switch", "staging"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("model-qwen2-5-vl")
            && stderr(&refused).contains("with `{ workspace = true }`"),
        "{}",
        describe(&refused)
    );
    assert_eq!(decided(&world), prod_files);

    // dev and back: every package from its clone, then prod again.
    world.ok(&["--no-daemon", "switch", "dev"])?;
    world.ok(&["--no-daemon", "check"])?;
    world.ok(&["--no-daemon", "check", "--mode", "prod"])?;
    assert_eq!(world.imported_version("bench-utils")?, "0.2.0.dev0");
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&["--no-daemon", "check"])?;

    // The image cannot install what prod installs: the tool comes from a
    // folder the image's context (the files the core's git tracks) does
    // not hold. It says so, naming the tool and the way out, before any
    // write.
    let before = decided(&world);
    let refused = world.run(&["--no-daemon", "image", "dockerfile"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("gives `release-tool` a local folder")
            && stderr(&refused).contains("give `release-tool` a registry entry"),
        "{}",
        describe(&refused)
    );
    assert_eq!(decided(&world), before);
    Ok(())
}

/// The same product imported in two steps, as a team that keeps its
/// submodules a while does: a plain import, `check`, then
/// `import --detach-submodules` on the imported workspace, `check` again;
/// nothing of the clones is lost and the core's status shows only what to
/// commit.
#[test]
fn the_product_imported_then_detached_as_a_second_step() -> anyhow::Result<()> {
    let world = the_product()?;
    let core = world.core();
    world.ok(&["--no-daemon", "import", "--uv-arg=--no-progress"])?;
    world.ok(&["--no-daemon", "check"])?;
    assert!(core.join(".gitmodules").is_file());

    let manifest = world.read("hpm.yaml")?;
    let detached = world.ok(&["--no-daemon", "import", "--detach-submodules"])?;
    assert!(
        stdout(&detached).contains("packages/vision-encoder"),
        "{}",
        describe(&detached)
    );
    world.ok(&["--no-daemon", "check"])?;
    assert_eq!(world.read("hpm.yaml")?, manifest);
    let vision = core.join("packages/vision-encoder");
    assert!(vision.join(".git").is_dir());
    assert_eq!(
        git_output(&vision, &["log", "-1", "--format=%s"])?.trim(),
        "unpushed work"
    );
    let status = git_output(&core, &["status", "--porcelain", "--untracked-files=all"])?;
    assert!(
        !status.lines().any(|line| line.starts_with("??")
            && (line.contains("packages/") || line.contains("release_tool"))),
        "{status}"
    );
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&["--no-daemon", "check"])?;
    Ok(())
}
