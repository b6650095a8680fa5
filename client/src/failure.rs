//! A failure as hpmctl reports it, whether it came from the engine
//! in-process or from the daemon as a JSON-RPC error: hpm's code (see
//! `hpm_protocol::codes`), its kind, the message, what to do next, and the
//! problems. Rendering keeps hints as `hint:` lines under what they are
//! about; the exit code comes from the kind.

use std::fmt;

use hpm_protocol::{codes, ErrorKind, Problem};
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{json, Value};

/// An exit code a command chose after printing its own report (a
/// release's outcome): `main` exits with it and prints nothing more.
#[derive(Debug, Clone, Copy)]
pub struct Exit(pub u8);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

#[derive(Debug, Clone)]
pub struct Failure {
    pub code: i32,
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    pub problems: Vec<Problem>,
    /// The error object's `data` as sent (planned clones, …).
    pub data: Value,
}

impl Failure {
    /// A failure of hpmctl itself (talking to the daemon, encoding).
    pub fn internal(message: impl Into<String>) -> Failure {
        Failure {
            code: codes::INTERNAL,
            kind: ErrorKind::Internal,
            message: message.into(),
            hint: None,
            problems: Vec::new(),
            data: Value::Null,
        }
    }

    /// A user's failure with a hint (a check that failed, …).
    pub fn user(code: i32, message: impl Into<String>, hint: Option<String>) -> Failure {
        Failure {
            code,
            kind: ErrorKind::User,
            message: message.into(),
            hint,
            problems: Vec::new(),
            data: Value::Null,
        }
    }

    /// 2 for hpm's own trouble, 1 for everything the user can act on.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Internal => 2,
            _ => 1,
        }
    }

    /// `{"error": {"code", "kind", "message", "hint", "problems", …}}`.
    pub fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code, "kind": self.kind, "message": self.message });
        if let (Some(error), Some(data)) = (error.as_object_mut(), self.data.as_object()) {
            error.extend(data.clone());
        }
        json!({ "error": error })
    }

    /// The lines people read: each problem with its hint under it, or the
    /// message and the hint.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.problems.is_empty() {
            out.push_str(&self.message);
        } else {
            let lines: Vec<String> = self
                .problems
                .iter()
                .map(|problem| match &problem.hint {
                    Some(hint) => format!("{problem}\n  hint: {hint}"),
                    None => problem.to_string(),
                })
                .collect();
            out.push_str(&lines.join("\n"));
        }
        if let Some(hint) = &self.hint {
            out.push_str("\n  hint: ");
            out.push_str(hint);
        }
        out
    }
}

impl Failure {
    /// This failure without uv's words when they end its message (the
    /// terminal showed them as uv printed them), pointing up at them.
    pub fn without_uv_reason(&self) -> Failure {
        let Some(reason) = self.data["uv_reason"].as_str().filter(|r| !r.is_empty()) else {
            return self.clone();
        };
        let Some(message) = self.message.strip_suffix(reason) else {
            return self.clone();
        };
        Failure {
            message: format!("{} (uv's words are above)", message.trim_end()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Failure {}

impl From<&hpm_engine::Error> for Failure {
    /// An error of the engine run in this process: the same code, kind and
    /// data the daemon would send for it.
    fn from(error: &hpm_engine::Error) -> Failure {
        let data = error.data();
        Failure {
            code: error.code(),
            kind: error.kind(),
            message: error.to_string(),
            hint: error.hint(),
            problems: error.problems().to_vec(),
            data,
        }
    }
}

impl From<hpm_engine::Error> for Failure {
    fn from(error: hpm_engine::Error) -> Failure {
        Failure::from(&error)
    }
}

impl From<ErrorObjectOwned> for Failure {
    fn from(error: ErrorObjectOwned) -> Failure {
        let data = error
            .data()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null);
        let kind = serde_json::from_value(data["kind"].clone()).unwrap_or(
            if (1000..codes::INTERNAL).contains(&error.code()) {
                ErrorKind::User
            } else {
                ErrorKind::Internal
            },
        );
        Failure {
            code: error.code(),
            kind,
            message: error.message().to_string(),
            hint: data["hint"].as_str().map(str::to_string),
            problems: serde_json::from_value(data["problems"].clone()).unwrap_or_default(),
            data,
        }
    }
}

impl From<jsonrpsee::core::ClientError> for Failure {
    fn from(error: jsonrpsee::core::ClientError) -> Failure {
        match error {
            jsonrpsee::core::ClientError::Call(error) => Failure::from(error),
            other => Failure {
                hint: Some("`hpmctl daemon stop` and retry, or use `--no-daemon`".to_string()),
                ..Failure::internal(format!("talking to hpmd failed: {other}"))
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_render_with_their_hints_and_kinds_decide_the_exit_code() {
        let failure = Failure::from(hpm_engine::Error::Invalid {
            problems: vec![
                Problem::new("has no registry entry")
                    .in_file("hpm.yaml")
                    .for_package("x")
                    .hint("add `x.yaml`"),
                Problem::new("second"),
            ],
        });
        assert_eq!(
            failure.render(),
            "`hpm.yaml`: package `x`: has no registry entry\n  hint: add `x.yaml`\nsecond"
        );
        assert_eq!(failure.code, codes::INVALID_INPUT);
        assert_eq!(failure.exit_code(), 1);
        let internal = Failure::from(hpm_engine::Error::internal("bug"));
        assert_eq!(internal.exit_code(), 2);
        let refused = Failure::from(hpm_engine::Error::Refused {
            message: "exists".into(),
            hint: Some("edit it".into()),
        });
        assert_eq!(refused.exit_code(), 1);
        assert_eq!(refused.render(), "exists\n  hint: edit it");
    }
}
