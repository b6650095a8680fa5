//! `hpmctl man DIR`: a man page (roff, section 1) for `hpmctl` and one for
//! every subcommand at any depth (`hpmctl-release-plan.1`), rendered by
//! clap_mangen from the same definition the parser uses, so the pages never
//! drift from `--help`. Packagers put them in `share/man/man1`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Command;

use crate::render;

/// Writes the pages into `dir` (made when missing) and lists them.
pub fn write(mut command: Command, dir: &Path, json: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    command.build();
    let mut written = Vec::new();
    write_pages(&command, "", dir, &mut written)?;
    if json {
        return render::json(&written);
    }
    let mut text = String::new();
    for path in &written {
        text.push_str(&format!("{}\n", path.display()));
    }
    render::out(&text)
}

/// The page of `command`, then its subcommands' (clap's own `help` aside).
fn write_pages(
    command: &Command,
    parent: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let name = match parent {
        "" => command.get_name().to_string(),
        parent => format!("{parent}-{}", command.get_name()),
    };
    let page = command
        .clone()
        .name(name.clone())
        .display_name(name.clone());
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff).with_context(|| format!("cannot write `{}`", path.display()))?;
    written.push(path);
    for sub in command.get_subcommands() {
        if sub.get_name() != "help" && !sub.is_hide_set() {
            write_pages(sub, &name, dir, written)?;
        }
    }
    Ok(())
}
