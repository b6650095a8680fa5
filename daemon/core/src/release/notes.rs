//! Release notes and commit messages: the deterministic notes `--notes
//! auto` uses (grouped by commit type), the hidden marker a forge release
//! is found again by, the core's notes gathering its packages', and the
//! checks of what an LLM wrote into the bundle's output slots.

use super::commits::{parse, Commit};

/// GitHub's limit on a release body, in characters.
pub const FORGE_BODY_LIMIT: usize = 125_000;

/// The first line a filled `release-notes.md` carries, echoing its inputs.
pub fn notes_echo(inputs_hash: &str) -> String {
    format!("<!-- hpm-inputs: {inputs_hash} -->")
}

/// The trailer a filled `commit-message.txt` ends with.
pub fn commit_echo(inputs_hash: &str) -> String {
    format!("Hpm-Inputs: {inputs_hash}")
}

/// The hidden line in a forge release's body that says which release of
/// which package made it: drafts are invisible to get-by-tag, so a retry
/// lists releases and looks for this.
pub fn marker(release_id: &str, package: &str) -> String {
    format!("<!-- hpm-release: {release_id} {package} -->")
}

/// Notes from the commits alone, grouped by Conventional Commit type.
pub fn auto_notes(
    package: &str,
    version: &str,
    previous_tag: Option<&str>,
    commits: &[Commit],
) -> String {
    /// Whether a commit of this type (and breaking or not) is in a group.
    type Belongs = fn(&str, bool) -> bool;
    let groups: [(&str, Belongs); 4] = [
        ("Breaking changes", |_, breaking| breaking),
        ("Features", |kind, breaking| !breaking && kind == "feat"),
        ("Fixes", |kind, breaking| {
            !breaking && (kind == "fix" || kind == "perf")
        }),
        ("Other changes", |kind, breaking| {
            !breaking && !matches!(kind, "feat" | "fix" | "perf")
        }),
    ];
    let mut out = format!("# {package} {version}\n");
    match previous_tag {
        Some(tag) => out.push_str(&format!("\nChanges since {tag}.\n")),
        None => out.push_str("\nFirst release.\n"),
    }
    for (title, belongs) in groups {
        let lines: Vec<String> = commits
            .iter()
            .filter_map(|c| {
                let (kind, breaking, text) = match parse(&c.message) {
                    Some(p) => (p.kind, p.breaking, p.description),
                    None => (String::new(), false, c.summary().to_string()),
                };
                belongs(&kind, breaking).then(|| format!("- {text} ({})", c.short_id()))
            })
            .collect();
        if !lines.is_empty() {
            out.push_str(&format!("\n## {title}\n\n{}\n", lines.join("\n")));
        }
    }
    if commits.is_empty() {
        out.push_str("\nNo code changes.\n");
    }
    out
}

/// One package's line in the core's notes.
#[derive(Debug, Clone)]
pub struct Released<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub tag: &'a str,
    pub commit: &'a str,
    pub notes: &'a str,
}

/// The core's notes: its own, every package's, and a table of every
/// package version and commit.
pub fn core_notes(own: &str, packages: &[Released<'_>]) -> String {
    let mut out = own.trim_end().to_string();
    out.push_str("\n\n## Packages\n\n| package | version | tag | commit |\n|---|---|---|---|\n");
    for p in packages {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            p.name,
            p.version,
            p.tag,
            // A commit id, shortened; words (`(not tagged yet)`) whole.
            if p.commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                p.commit.get(..12).unwrap_or(p.commit)
            } else {
                p.commit
            }
        ));
    }
    for p in packages {
        let body = p.notes.trim();
        // Their headings move one level down under the core's.
        let shifted: Vec<String> = body
            .lines()
            .map(|l| {
                if l.starts_with('#') {
                    format!("#{l}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        out.push_str(&format!("\n{}\n", shifted.join("\n")));
    }
    out
}

/// A filled `release-notes.md`: its first line must echo `inputs_hash`,
/// the rest is the notes, not empty and within the forge's limit.
pub fn check_notes(text: &str, inputs_hash: &str) -> Result<String, String> {
    let text = text.trim_start_matches('\u{feff}');
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let first = first.trim();
    if first.is_empty() && rest.trim().is_empty() {
        return Err("is empty: write the release notes below the first line".to_string());
    }
    match first.strip_prefix("<!-- hpm-inputs: ").and_then(|r| r.strip_suffix(" -->")) {
        None => return Err(format!("does not start with `{}`, the first line its prompt (`prompt-release-notes.md`) asks for", notes_echo(inputs_hash))),
        Some(hash) if hash != inputs_hash => {
            return Err("is stale: it was written for other inputs (the code moved since); run `hpmctl release notes` again and rewrite it".to_string())
        }
        Some(_) => {}
    }
    let notes = rest.trim();
    if notes.is_empty() {
        return Err("is empty: write the release notes below the first line".to_string());
    }
    if notes.chars().count() > FORGE_BODY_LIMIT - 200 {
        return Err(format!(
            "has {} characters; a forge release body holds at most {FORGE_BODY_LIMIT}",
            notes.chars().count()
        ));
    }
    Ok(format!("{notes}\n"))
}

/// A filled `commit-message.txt`: a Conventional Commit (not pasted shell
/// text) ending with the inputs trailer, returned without it.
pub fn check_commit_message(text: &str, inputs_hash: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.trim().lines().collect();
    let echo = commit_echo(inputs_hash);
    let Some(position) = lines
        .iter()
        .position(|l| l.trim().starts_with("Hpm-Inputs:"))
    else {
        return Err(format!(
            "does not end with the trailer `{echo}`: keep it as the last line"
        ));
    };
    if lines[position].trim() != echo {
        return Err("is stale: it was written for other inputs (the code moved since); run `hpmctl release notes` again".to_string());
    }
    let message: Vec<&str> = lines[..position].to_vec();
    let message = message.join("\n").trim().to_string();
    let shell = message.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("$ ")
            || l.starts_with("```")
            || l.starts_with("git ")
            || l.contains("<<")
            || l == "EOF"
    });
    if shell {
        return Err(
            "looks like shell text, not a commit message: write only the message".to_string(),
        );
    }
    if parse(&message).is_none() {
        return Err(
            "is not a Conventional Commit: the first line must be `type(scope): description`"
                .to_string(),
        );
    }
    Ok(format!("{message}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, message: &str) -> Commit {
        Commit {
            id: id.to_string(),
            message: message.to_string(),
        }
    }

    #[test]
    fn auto_notes_group_commits_by_type_with_their_ids() {
        let notes = auto_notes(
            "plugin-a",
            "0.2.0.dev0",
            Some("v0.1.1"),
            &[
                commit("aaaaaaaa11", "feat: search"),
                commit("bbbbbbbb22", "fix(io): a leak"),
                commit("cccccccc33", "tidy up"),
                commit("dddddddd44", "feat!: new api"),
            ],
        );
        assert_eq!(
            notes,
            "# plugin-a 0.2.0.dev0\n\nChanges since v0.1.1.\n\n## Breaking changes\n\n- new api (dddddddd)\n\n## Features\n\n- search (aaaaaaaa)\n\n## Fixes\n\n- a leak (bbbbbbbb)\n\n## Other changes\n\n- tidy up (cccccccc)\n"
        );
    }

    #[test]
    fn filled_notes_must_echo_their_inputs_and_fit() {
        let ok = format!("{}\n# Notes\n\n- x\n", notes_echo("abc"));
        assert_eq!(check_notes(&ok, "abc").unwrap(), "# Notes\n\n- x\n");
        assert!(check_notes(&ok, "def").unwrap_err().starts_with("is stale"));
        assert!(check_notes("# Notes\n", "abc")
            .unwrap_err()
            .contains("does not start with"));
        assert!(check_notes(&format!("{}\n\n", notes_echo("abc")), "abc")
            .unwrap_err()
            .starts_with("is empty"));
        let huge = format!("{}\n{}", notes_echo("abc"), "x".repeat(FORGE_BODY_LIMIT));
        assert!(check_notes(&huge, "abc").unwrap_err().contains("at most"));
    }

    #[test]
    fn a_commit_message_must_be_conventional_and_not_shell_text() {
        let echo = commit_echo("h1");
        assert_eq!(
            check_commit_message(&format!("fix: a thing\n\nbody\n\n{echo}\n"), "h1").unwrap(),
            "fix: a thing\n\nbody\n"
        );
        assert!(
            check_commit_message(&format!("$ git commit -m 'fix: x'\n{echo}"), "h1")
                .unwrap_err()
                .contains("shell")
        );
        assert!(check_commit_message(&format!("fixed it\n{echo}"), "h1")
            .unwrap_err()
            .contains("Conventional"));
        assert!(check_commit_message("fix: x\n", "h1")
            .unwrap_err()
            .contains("trailer"));
        assert!(
            check_commit_message(&format!("fix: x\n{}", commit_echo("old")), "h1")
                .unwrap_err()
                .starts_with("is stale")
        );
    }

    #[test]
    fn the_core_notes_gather_the_packages_with_a_table() {
        let notes = core_notes(
            "# core 1.0.0\n",
            &[Released {
                name: "a",
                version: "0.1.0",
                tag: "v0.1.0",
                commit: "0123456789abcdef",
                notes: "# a 0.1.0\n\n- x\n",
            }],
        );
        assert!(
            notes.contains("| a | 0.1.0 | v0.1.0 | 0123456789ab |"),
            "{notes}"
        );
        assert!(notes.contains("\n## a 0.1.0\n"), "{notes}");
    }
}
