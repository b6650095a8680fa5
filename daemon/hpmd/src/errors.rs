//! The one place that turns engine errors into JSON-RPC errors: the
//! engine's code (`Error::code`, one of `hpm_protocol::codes`), the
//! message, and its `data` (kind, hint, problems, clones needed).

use hpm_engine::Error;
use jsonrpsee::types::ErrorObjectOwned;

/// An engine error as a JSON-RPC error object: hpm's code, the message, and
/// as `data` its kind, hint, and problems (or planned clones).
pub fn to_rpc_error(error: &Error) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(error.code(), error.to_string(), Some(error.data()))
}
