//! The caller's environment that travels with a request: a daemon serves
//! many terminals, and git and uv must run with the credentials, config,
//! proxies and TLS settings of the one that asked, not those the daemon
//! was started with. Only the variables [`is_forwarded`] names travel; the
//! daemon keeps them in memory for that job's processes and never writes
//! or logs their values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Variables that travel by exact name: the ssh agent and ssh command,
/// git's prompts and config, where config lives, proxies and certificate
/// authorities.
pub const FORWARDED: &[&str] = &[
    "HOME",
    "XDG_CONFIG_HOME",
    "SSH_AUTH_SOCK",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_ASKPASS",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_SSL_NO_VERIFY",
    "GIT_PROXY_COMMAND",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "NETRC",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_KEYRING_PROVIDER",
    "UV_NATIVE_TLS",
    "UV_INSECURE_HOST",
    "UV_HTTP_TIMEOUT",
    "UV_CONCURRENT_DOWNLOADS",
    "UV_CONCURRENT_BUILDS",
    "UV_OFFLINE",
    // Where uv puts the environment: hpm reads it there too.
    "UV_PROJECT_ENVIRONMENT",
    // hpm's own choices a job makes for its caller: the container engine
    // of `image build`, the forge API a release plan names, the uv binary.
    "HPM_ENGINE",
    "HPM_FORGE_API",
    "HPM_UV",
];

/// Variables that travel by prefix: git's numbered config pairs
/// (`GIT_CONFIG_KEY_0`, `GIT_CONFIG_VALUE_0`) and uv's index settings and
/// credentials (`UV_INDEX`, `UV_INDEX_<NAME>_USERNAME`, `…_PASSWORD`).
pub const FORWARDED_PREFIXES: &[&str] = &["GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_", "UV_INDEX"];

/// Whether the variable `name` travels with a request.
pub fn is_forwarded(name: &str) -> bool {
    FORWARDED.contains(&name)
        || FORWARDED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// The forwarded variables of the client that sent a request (values that
/// are not UTF-8 do not travel). Its `Debug` names the variables only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClientEnv {
    pub vars: BTreeMap<String, String>,
}

impl ClientEnv {
    /// The forwarded variables among `vars`.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> ClientEnv {
        ClientEnv {
            vars: vars
                .into_iter()
                .filter(|(name, _)| is_forwarded(name))
                .collect(),
        }
    }
}

impl std::fmt::Debug for ClientEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allowlist_travels_and_debug_shows_no_value() {
        let env = ClientEnv::from_vars([
            ("SSH_AUTH_SOCK".to_string(), "/tmp/agent".to_string()),
            (
                "UV_INDEX_INTERNAL_PASSWORD".to_string(),
                "s3cret".to_string(),
            ),
            (
                "GIT_CONFIG_KEY_0".to_string(),
                "url.x.insteadOf".to_string(),
            ),
            ("LD_PRELOAD".to_string(), "/evil.so".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
            ("HPM_LOG".to_string(), "trace".to_string()),
        ]);
        let names: Vec<&str> = env.vars.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "GIT_CONFIG_KEY_0",
                "SSH_AUTH_SOCK",
                "UV_INDEX_INTERNAL_PASSWORD"
            ]
        );
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("/tmp/agent"),
            "{shown}"
        );
    }
}
