//! A failure as hpmctl reports it, whether it came from the engine in-process
//! or from the daemon as a JSON-RPC error: a code (see `hpm_protocol::codes`),
//! the message, and the problems as data.

use std::fmt;

use hpm_protocol::codes;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    pub data: Value,
}

impl Failure {
    /// 1 for what the user can fix (inputs, uv, a check), 2 for hpm's own trouble.
    pub fn exit_code(&self) -> u8 {
        if (1000..codes::INTERNAL).contains(&self.code) {
            1
        } else {
            2
        }
    }

    pub fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let (Some(error), Some(data)) = (error.as_object_mut(), self.data.as_object()) {
            error.extend(data.clone());
        }
        json!({ "error": error })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<hpm::Error> for Failure {
    fn from(error: hpm::Error) -> Failure {
        let rpc = hpm::actor::to_rpc_error(&error);
        Failure::from(rpc)
    }
}

impl From<ErrorObjectOwned> for Failure {
    fn from(error: ErrorObjectOwned) -> Failure {
        let data = error
            .data()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null);
        Failure {
            code: error.code(),
            message: error.message().to_string(),
            data,
        }
    }
}

impl From<jsonrpsee::core::ClientError> for Failure {
    fn from(error: jsonrpsee::core::ClientError) -> Failure {
        match error {
            jsonrpsee::core::ClientError::Call(error) => Failure::from(error),
            other => Failure {
                code: codes::INTERNAL,
                message: format!("talking to hpmd failed: {other}\n  hint: `hpmctl daemon stop` and retry, or use `--no-daemon`"),
                data: Value::Null,
            },
        }
    }
}
