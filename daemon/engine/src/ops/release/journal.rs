//! A release's journal, `.hpm/releases/<id>/journal.jsonl`: append-only,
//! each line fsynced, its first line naming the plan's hash. It records
//! what was started and finished with the effects applied, for `status`
//! and for the record; `resume` trusts what it observes, not this file,
//! and refuses a journal whose hash does not match the plan.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::steps::Effect;
use crate::error::{Error, Result};

/// One line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    Plan { hash: String },
    Started { step: String },
    Done { step: String, effects: Vec<Effect> },
    Failed { step: String, error: String },
    Aborted,
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn path(release_dir: &Path) -> PathBuf {
        release_dir.join("journal.jsonl")
    }

    /// Opens (or starts) the journal of the plan with `hash`.
    pub fn open(release_dir: &Path, hash: &str) -> Result<Journal> {
        let path = Self::path(release_dir);
        let journal = Journal { path };
        match journal.entries()?.first() {
            Some(Entry::Plan { hash: recorded }) if recorded == hash => {}
            Some(_) => {
                return Err(Error::Refused {
                    message: format!("`{}` belongs to another plan than `plan.json` (its hash differs)", journal.path.display()),
                    hint: Some("the plan was edited after the release started; restore it, or `hpmctl release abort` and plan again".to_string()),
                })
            }
            None => journal.append(&Entry::Plan { hash: hash.to_string() })?,
        }
        Ok(journal)
    }

    /// Every entry written so far (a torn last line, from a kill, is left out).
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let bytes = crate::fsutil::read_optional(&self.path)
            .map_err(|e| Error::read(&self.path, e))?
            .unwrap_or_default();
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    /// Whether an earlier run finished any step.
    pub fn begun(&self) -> Result<bool> {
        Ok(self
            .entries()?
            .iter()
            .any(|entry| matches!(entry, Entry::Done { .. })))
    }

    pub fn append(&self, entry: &Entry) -> Result<()> {
        let line = serde_json::to_string(entry).map_err(|e| Error::internal(e.to_string()))? + "\n";
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::write(&self.path, e))?;
        file.write_all(line.as_bytes())
            .map_err(|e| Error::write(&self.path, e))?;
        file.sync_all().map_err(|e| Error::write(&self.path, e))
    }
}
