//! `hpmctl doctor`: whether hpm can do its work for this caller. git and
//! uv are found (with their versions), and each remote the workspace uses
//! (its git registries, and every git source and `repo` of the entries its
//! manifest names) answers `git ls-remote` with the caller's credentials,
//! all remotes at once, each within a few seconds. The daemon's own check
//! is the client's (it is the one that connects).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use hpm_core::manifest::RegistryLocation;
use hpm_core::registry::SourceSpec;
use hpm_core::url::url_for_uv;
use hpm_protocol::report::{DoctorCheck, DoctorReport, DoctorSubject};

use crate::caller::Caller;
use crate::git::fan_out;
use crate::git::net::{self, NetFailure};
use crate::inputs::Inputs;
use crate::workspace::Workspace;

/// How long one remote may take to answer.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);

/// Every check for `caller`, with `workspace`'s remotes when there is one.
pub fn doctor(caller: &Caller, workspace: Option<&Workspace>) -> DoctorReport {
    let mut checks = vec![git_check(caller), uv_check(caller)];
    if let Some(workspace) = workspace {
        match remotes(workspace) {
            Ok(urls) => checks.extend(remote_checks(caller, &urls)),
            Err(error) => checks.push(DoctorCheck {
                subject: DoctorSubject::Workspace,
                name: workspace.root().display().to_string(),
                ok: false,
                detail: error.to_string(),
                hint: error.hint(),
                millis: 0,
            }),
        }
    }
    DoctorReport {
        ok: checks.iter().all(|check| check.ok),
        checks,
    }
}

fn git_check(caller: &Caller) -> DoctorCheck {
    let started = Instant::now();
    let found = net::git_program()
        .and_then(|git| net::version(caller).map(|version| (git.display().to_string(), version)));
    let (name, ok, detail, hint) = match found {
        Ok((path, version)) => (path, true, version, None),
        Err(failure) => (
            "git".to_string(),
            false,
            failure.said.clone(),
            Some(failure.hint()),
        ),
    };
    DoctorCheck {
        subject: DoctorSubject::Git,
        name,
        ok,
        detail,
        hint,
        millis: millis(started),
    }
}

fn uv_check(caller: &Caller) -> DoctorCheck {
    let started = Instant::now();
    let (name, ok, detail, hint) = match crate::uv::Uv::for_caller(caller) {
        Ok(uv) => (
            uv.path.display().to_string(),
            true,
            format!("uv {}", uv.version),
            crate::uv::is_script(&uv.path).then(|| shim_hint(&uv.path)),
        ),
        Err(error) => ("uv".to_string(), false, error.to_string(), error.hint()),
    };
    DoctorCheck {
        subject: DoctorSubject::Uv,
        name,
        ok,
        detail,
        hint,
        millis: millis(started),
    }
}

/// What a uv that is a script (a version manager's shim) costs every uv
/// call hpm makes, measured, and how to point hpm at the binary.
fn shim_hint(shim: &Path) -> String {
    let Some(binary) = crate::uv::uv_from_python_package().filter(|b| !crate::uv::is_script(b))
    else {
        return format!(
            "`{}` is a script (a version manager's shim) that starts a shell before every uv call; \
             set `HPM_UV` to the uv binary it runs (`pyenv which uv`, `asdf which uv`, …)",
            shim.display()
        );
    };
    format!(
        "`{}` is a script (a version manager's shim): `uv --version` takes {} ms through it and {} ms \
         from the binary it runs, on every uv call hpm makes; set `HPM_UV={}`; the daemon reads it when it starts (`hpmctl daemon stop`)",
        shim.display(),
        fastest_version_call(shim),
        fastest_version_call(&binary),
        binary.display()
    )
}

/// The fastest of three `PROGRAM --version` runs, in milliseconds.
fn fastest_version_call(program: &Path) -> u128 {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let _ = std::process::Command::new(program)
                .arg("--version")
                .stdin(std::process::Stdio::null())
                .output();
            started.elapsed().as_millis()
        })
        .min()
        .unwrap_or_default()
}

/// The git URLs the workspace may ask: its git registries, and the git
/// sources and `repo` of every entry its manifest names, in the form git
/// is given.
fn remotes(workspace: &Workspace) -> crate::Result<BTreeSet<String>> {
    let manifest = workspace.load_manifest()?;
    let mut urls = BTreeSet::new();
    for location in &manifest.registry {
        if let RegistryLocation::Git { git, .. } = location {
            urls.insert(git.clone());
        }
    }
    let inputs = Inputs::read_with(workspace, manifest, true)?;
    for entry in inputs.registry.entries() {
        urls.extend(entry.repo.iter().cloned());
        for source in entry.sources.values() {
            if let SourceSpec::Git { url, .. } = source {
                urls.insert(url_for_uv(url));
            }
        }
    }
    Ok(urls)
}

/// Asks every remote, several at a time ([`fan_out`]).
fn remote_checks(caller: &Caller, urls: &BTreeSet<String>) -> Vec<DoctorCheck> {
    let urls: Vec<&String> = urls.iter().collect();
    fan_out::map(
        caller,
        &urls,
        |url| {
            let started = Instant::now();
            let answer = net::ls_remote_within(caller, url, REMOTE_TIMEOUT);
            remote_check(url, answer, millis(started))
        },
        |url| {
            let failure = NetFailure {
                said: "asking the remote crashed".to_string(),
            };
            remote_check(url, Err(failure), 0)
        },
    )
}

fn remote_check(
    url: &str,
    answer: Result<Vec<(String, String)>, NetFailure>,
    millis: u64,
) -> DoctorCheck {
    let (ok, detail, hint) = match answer {
        Ok(refs) => (true, format!("answers ({} refs)", refs.len()), None),
        Err(failure) => (false, failure.said.clone(), Some(failure.hint())),
    };
    DoctorCheck {
        subject: DoctorSubject::Remote,
        name: url.to_string(),
        ok,
        detail,
        hint,
        millis,
    }
}

fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
