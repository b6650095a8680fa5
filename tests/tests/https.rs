//! Real teams' remotes over https: `git http-backend` behind TLS with a
//! throwaway certificate and Basic auth, the token kept by git's own
//! `credential.helper store`, and the user's git config given through
//! `GIT_CONFIG_GLOBAL` with an `insteadOf` mapping. hpm must do over it all
//! that the user's `git` and uv do: `switch prod` (the closure too), a git
//! registry, `dev` cloning, `add`; and the token never lands in a file hpm
//! writes or in what it prints.

use std::path::Path;

use hpm_tests::git_http::GitHttpServer;
use hpm_tests::{describe, git, stderr, stdout, Release, World};

const TOKEN: &str = "hpm-https-token-4c2e";

/// The name the team's URLs use; the user's git config maps it to the
/// server (`url.<server>.insteadOf`), as a mirror or a proxy rule does.
const MAPPED: &str = "https://git.hpm-example.invalid/";

/// A bare git registry under `remotes/` holding `plugin-b`'s entry, whose
/// sources go through the mapped name.
fn registry_repository(world: &World) -> anyhow::Result<()> {
    let work = world.root().join("registry-work");
    std::fs::create_dir_all(&work)?;
    git(&work, &["init", "-q", "-b", "main"])?;
    let url = format!("{MAPPED}plugin-b.git");
    std::fs::write(
        work.join("plugin-b.yaml"),
        format!(
            "name: plugin-b\nrepo: \"{url}\"\nsources:\n  staging: {{ type: git, url: \"{url}\", tag: v1.1.0.dev0 }}\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"
        ),
    )?;
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "-q", "-m", "registry"])?;
    git(
        world.root(),
        &[
            "clone",
            "-q",
            "--bare",
            &work.display().to_string(),
            &world
                .root()
                .join("remotes/registry.git")
                .display()
                .to_string(),
        ],
    )
}

/// The user's git config, as `GIT_CONFIG_GLOBAL` names it: the credential
/// store (its file holding the token) and the mapping of [`MAPPED`].
fn user_git_config(server: &GitHttpServer, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let base = server.url("");
    let credentials = dir.join("git-credentials");
    let host = base.trim_start_matches("https://").trim_end_matches('/');
    std::fs::write(
        &credentials,
        format!("https://x-access-token:{TOKEN}@{host}\n"),
    )?;
    let config = dir.join("gitconfig");
    std::fs::write(
        &config,
        format!(
            "[credential]\n\thelper = store --file={}\n[url \"{base}\"]\n\tinsteadOf = {MAPPED}\n",
            credentials.display()
        ),
    )?;
    Ok(config)
}

#[test]
fn https_remotes_work_with_the_users_credential_store_and_git_config() -> anyhow::Result<()> {
    let world = World::new()?;
    for name in ["plugin-a", "plugin-b", "plugin-c", "shouter"] {
        let needs: &'static [&'static str] = if name == "plugin-a" {
            &["shouter"]
        } else {
            &[]
        };
        world.add_plugin(
            name,
            &[
                Release::new("v1.0.0", "1.0.0").depending_on(needs),
                Release::new("v1.1.0.dev0", "1.1.0.dev0").depending_on(needs),
            ],
        )?;
    }
    registry_repository(&world)?;
    let server = GitHttpServer::start(
        &world.root().join("remotes"),
        TOKEN,
        &world.root().join("https"),
    )?;
    for name in ["plugin-a", "shouter"] {
        let url = format!("{MAPPED}{name}.git");
        world.write_registry_entry(
            name,
            &format!(
                "name: {name}\nrepo: \"{url}\"\nsources:\n  staging: {{ type: git, url: \"{url}\", tag: v1.1.0.dev0 }}\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"
            ),
        )?;
    }
    // shouter is the closure: plugin-a needs it, the manifest does not list it.
    world.write_manifest(&format!(
        "version: 1\nmode: prod\nregistry:\n  - ./hpm-registry\n  - {{ git: \"{}\", ref: main }}\npackages: [plugin-a, plugin-b]\n",
        server.url("registry.git")
    ))?;
    let config = user_git_config(&server, &world.root().join("user"))?;
    let state = world.root().join("state");
    let with_git_config = |args: &[&str]| -> anyhow::Result<std::process::Output> {
        let output = world
            .hpmctl()
            .env("XDG_STATE_HOME", &state)
            .env("GIT_CONFIG_GLOBAL", &config)
            .env("GIT_SSL_CAINFO", &server.certificate)
            .args(args)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "hpmctl {}:\n{}",
            args.join(" "),
            describe(&output)
        );
        Ok(output)
    };
    let mut printed = String::new();

    // The daemon (logging everything) is started by a client without the
    // config; the next client's GIT_CONFIG_GLOBAL is the one its jobs use.
    world.start_logging_daemon(&state, "trace")?;
    let switched = with_git_config(&["switch", "prod"])?;
    printed += &describe(&switched);
    let pyproject = world.read("pyproject.toml")?;
    for name in ["plugin-a", "plugin-b", "shouter"] {
        assert!(
            pyproject.contains(&format!("git = \"{MAPPED}{name}.git\", tag = \"v1.0.0\"")),
            "{name} in:\n{pyproject}"
        );
    }
    let lock = world.read("uv.lock")?;
    assert!(
        lock.contains(&format!("{MAPPED}shouter.git?tag=v1.0.0")),
        "{lock}"
    );

    // dev clones through the mapping and the store.
    printed += &describe(&with_git_config(&["dev", "plugin-a", "--yes"])?);
    let clone = world.core().join("packages/plugin-a");
    assert!(
        clone.join(".git").is_dir(),
        "no clone at {}",
        clone.display()
    );
    assert!(clone.join("pyproject.toml").is_file());

    // add lists the remote's tags over https.
    let url_c = server.url("plugin-c.git");
    printed += &describe(&with_git_config(&["add", "plugin-c", "--git", &url_c])?);
    let entry = world.read("hpm-registry/plugin-c.yaml")?;
    assert!(
        entry.contains("v1.0.0") && entry.contains(&url_c),
        "{entry}"
    );
    assert!(
        server.authorised() > 0 && server.requests().iter().any(|r| r.contains("registry.git")),
        "{:?}",
        server.requests()
    );

    // Without the user's config the mapped name does not exist: hpm says
    // which remote and what git said, and changes nothing.
    let before = world.read("pyproject.toml")?;
    let refused = world.hpmctl().args(["switch", "staging"]).output()?;
    assert!(!refused.status.success(), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("git.hpm-example.invalid"),
        "{}",
        describe(&refused)
    );
    assert_eq!(world.read("pyproject.toml")?, before);
    printed += &describe(&refused);

    // The token went to git through its store only.
    let status = with_git_config(&["status"])?;
    printed += &stdout(&status);
    assert!(
        !printed.contains(TOKEN),
        "the token was printed:\n{printed}"
    );
    let log = std::fs::read_to_string(state.join("hpm/hpmd.log"))?;
    assert!(log.contains("TRACE"), "HPM_LOG=trace took no effect");
    for file in hpm_written_files(&world)? {
        let text = std::fs::read(&file)?;
        assert!(
            !String::from_utf8_lossy(&text).contains(TOKEN),
            "{} holds the token",
            file.display()
        );
    }
    Ok(())
}

/// Every file in the core and hpm's cache that is not in a git object
/// store: what hpm wrote, its log, its state, its caches' configs.
fn hpm_written_files(world: &World) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![
        world.core(),
        world.root().join("cache"),
        world.root().join("state"),
    ];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default();
            if name == "objects" || name == ".venv" {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    anyhow::ensure!(files.len() > 5, "too few files to check: {files:?}");
    Ok(files)
}
