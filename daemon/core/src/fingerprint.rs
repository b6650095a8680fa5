//! Fingerprints of bytes handed in: content hashes, and the fingerprint of
//! a sync's inputs that tells whether there is anything to do.

use sha2::{Digest, Sha256};

use crate::plan::Plan;

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hash of a file that may be absent (`None` when it is).
pub fn hash_of(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(sha256_hex)
}

/// Everything a sync's result depends on.
#[derive(Debug, Clone, Copy)]
pub struct SyncInputs<'a> {
    /// hpm's version: a new hpm may write differently.
    pub hpm_version: &'a str,
    /// The plan before pinning (the one the next run computes first).
    pub plan: &'a Plan,
    pub uv_args: &'a [String],
    pub pyproject: &'a [u8],
    pub uv_lock: Option<&'a [u8]>,
    /// Each path source's `pyproject.toml` in plan order (`None`: unreadable):
    /// its dependencies may change.
    pub clone_pyprojects: &'a [Option<Vec<u8>>],
    /// Whether the environment exists.
    pub venv_exists: bool,
}

/// A hash of [`SyncInputs`]: equal fingerprints mean the last good sync
/// still holds and uv need not run.
pub fn fingerprint(inputs: &SyncInputs<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(inputs.hpm_version);
    hasher.update(serde_json::to_vec(inputs.plan).unwrap_or_default());
    hasher.update(serde_json::to_vec(inputs.uv_args).unwrap_or_default());
    hasher.update(sha256_hex(inputs.pyproject));
    hasher.update(hash_of(inputs.uv_lock).unwrap_or_default());
    for clone in inputs.clone_pyprojects {
        hasher.update(hash_of(clone.as_deref()).unwrap_or_default());
    }
    hasher.update([u8::from(inputs.venv_exists)]);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;

    #[test]
    fn every_input_moves_the_fingerprint() {
        let plan = Plan {
            mode: Mode::new("dev").unwrap(),
            packages: Vec::new(),
        };
        let base = SyncInputs {
            hpm_version: "1",
            plan: &plan,
            uv_args: &[],
            pyproject: b"a",
            uv_lock: None,
            clone_pyprojects: &[None],
            venv_exists: true,
        };
        let clone = [Some(b"x".to_vec())];
        let args = ["--extra".to_string()];
        let variants = [
            SyncInputs {
                hpm_version: "2",
                ..base
            },
            SyncInputs {
                uv_args: &args,
                ..base
            },
            SyncInputs {
                pyproject: b"b",
                ..base
            },
            SyncInputs {
                uv_lock: Some(b""),
                ..base
            },
            SyncInputs {
                clone_pyprojects: &clone,
                ..base
            },
            SyncInputs {
                venv_exists: false,
                ..base
            },
        ];
        for variant in variants {
            assert_ne!(fingerprint(&variant), fingerprint(&base), "{variant:?}");
        }
        assert_eq!(fingerprint(&base), fingerprint(&base));
    }
}
