//! [`Problem`]: one thing wrong with the workspace's inputs, with where it
//! is and what to do; [`Invalid`]: the problems found together.
//!
//! A problem's `Display` is where and what (`` `hpm.yaml`:3:5: package `x`:
//! has no registry entry ``); its hint is data, rendered by the client as
//! a `hint:` line and sent to editors as a field.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One thing wrong with the workspace's inputs, found while resolving or
/// validating. Several are reported together so the user fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// The file the problem is in, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// 1-based line and column in `file`, when the parser knows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The managed package the problem is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub message: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            file: None,
            line: None,
            column: None,
            package: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    pub fn for_package(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "`{}`", file.display())?;
            if let (Some(line), Some(column)) = (self.line, self.column) {
                write!(f, ":{line}:{column}")?;
            }
            write!(f, ": ")?;
        }
        if let Some(package) = &self.package {
            write!(f, "package `{package}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// The inputs are wrong: every problem found, in the order found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(problems))]
pub struct Invalid {
    pub problems: Vec<Problem>,
}

impl Invalid {
    /// `Ok` when `problems` is empty, else the problems as an error.
    pub fn check(problems: Vec<Problem>) -> Result<(), Invalid> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Invalid { problems })
        }
    }
}

impl From<Problem> for Invalid {
    fn from(problem: Problem) -> Invalid {
        Invalid {
            problems: vec![problem],
        }
    }
}

/// Turns a YAML error into a [`Problem`] with the file, line and column.
pub fn yaml_problem(path: &std::path::Path, error: &serde_yaml_ng::Error) -> Problem {
    let mut message = error.to_string();
    // serde_yaml_ng appends " at line L column C"; we print the position in front instead.
    if let Some(index) = message.find(" at line ") {
        message.truncate(index);
    }
    let mut problem = Problem::new(message).in_file(path);
    if let Some(location) = error.location() {
        problem = problem.at(location.line(), location.column());
    }
    problem
}

fn render(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_says_where_and_what_and_leaves_the_hint_to_the_renderer() {
        let problem = Problem::new("has no registry entry")
            .in_file("hpm.yaml")
            .at(3, 5)
            .for_package("x")
            .hint("add one");
        assert_eq!(
            problem.to_string(),
            "`hpm.yaml`:3:5: package `x`: has no registry entry"
        );
        assert_eq!(problem.hint.as_deref(), Some("add one"));
    }
}
