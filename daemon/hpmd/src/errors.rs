//! The one place that maps engine errors to JSON-RPC: hpm's code (see
//! `hpm_protocol::codes`), the message, and as `data` the error's kind,
//! hint and problems (or the clones it needs).

use hpm_engine::Error;
use hpm_protocol::codes;
use jsonrpsee::types::ErrorObjectOwned;

/// hpm's JSON-RPC code for an engine error (see `hpm_protocol::codes`).
pub fn code(error: &Error) -> i32 {
    match error {
        Error::NotAWorkspace { .. } => codes::NOT_A_WORKSPACE,
        Error::Read { .. } | Error::Write { .. } => codes::IO,
        Error::Invalid { .. } | Error::Refused { .. } => codes::INVALID_INPUT,
        Error::Network { .. } => codes::NETWORK,
        Error::Busy { .. } => codes::BUSY,
        Error::Conflict { .. } => codes::CONFLICT,
        Error::DamagedJournal { .. } | Error::RollbackFailed { .. } => codes::INTERRUPTED,
        Error::NotRecorded { .. } => codes::IO,
        Error::UvMissing { .. } | Error::UvTooOld { .. } => codes::BACKEND_UNAVAILABLE,
        Error::UvFailed { .. } => codes::BACKEND_FAILED,
        Error::EngineFailed { .. } => codes::BACKEND_FAILED,
        Error::Cancelled | Error::BuildCancelled => codes::CANCELLED,
        Error::CloneNeeded { .. } => codes::CLONE_NEEDED,
        Error::Internal { .. } => codes::INTERNAL,
    }
}

/// An engine error as a JSON-RPC error object: hpm's code, the message, and
/// as `data` its kind, hint, and problems (or planned clones).
pub fn to_rpc_error(error: &Error) -> ErrorObjectOwned {
    let mut data = serde_json::json!({
        "kind": error.kind(),
        "problems": error.problems(),
    });
    if let Some(hint) = error.hint() {
        data["hint"] = hint.into();
    }
    if let Error::UvFailed { reason, .. } = error {
        // Apart from the message too: a client that streamed uv's lines
        // shows the message without them.
        data["uv_reason"] = reason.clone().into();
    }
    if let Error::CloneNeeded { clones } = error {
        data["clones"] = serde_json::to_value(clones).unwrap_or_default();
    }
    ErrorObjectOwned::owned(code(error), error.to_string(), Some(data))
}
