//! The forge's releases API: GitHub's REST API (`/repos/{owner}/{repo}/releases`)
//! and Gitea/Forgejo's, which has the same shapes under `/api/v1`.
//!
//! A release is made as a draft, then published. Drafts are invisible to
//! get-by-tag, so hpm finds its release again by listing releases and
//! looking for the hidden marker in the body. Server errors are retried
//! with backoff, a rate limit is waited out (up to a bound), and the token
//! travels only in the `Authorization` header: it is never part of an
//! effect, the journal, or a message.

use std::time::Duration;

use hpm_core::manifest::ForgeKind;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// GitHub's public API, when `release.api` and `HPM_FORGE_API` are unset.
pub const GITHUB_API: &str = "https://api.github.com";

/// Attempts for one call that meets server errors.
const ATTEMPTS: u32 = 5;
/// The longest a rate limit is waited out.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// A forge release as the API returns it (the fields hpm reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ForgeRelease {
    pub id: u64,
    pub tag_name: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub body: Option<String>,
}

/// One forge repository, with the token to write to it.
#[derive(Debug)]
pub struct Forge {
    kind: ForgeKind,
    api: String,
    repo: String,
    token: String,
    agent: ureq::Agent,
}

/// Whether a forge token may go to `api` for a package pushed to `remote`
/// (its clone's `origin`). Only over https, or to this machine (a loopback
/// address, plain http allowed); and, unless the user's environment chose
/// the API (`user_chose`), only to the remote's own host (`api.github.com`
/// standing for `github.com`): a committed `hpm.yaml` must not be able to
/// send a developer's token elsewhere. The reason when not.
pub fn token_destination(
    api: &str,
    remote: &str,
    user_chose: bool,
) -> std::result::Result<(), String> {
    let parsed = url::Url::parse(api).map_err(|e| format!("it is not a URL ({e})"))?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if loopback {
        return Ok(());
    }
    if parsed.scheme() != "https" {
        return Err(format!(
            "a token travels only over https (or to this machine), and this is {}",
            parsed.scheme()
        ));
    }
    if user_chose {
        return Ok(());
    }
    let remote_host = url::Url::parse(&hpm_core::url::url_for_uv(remote))
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
    let same = remote_host
        .as_deref()
        .is_some_and(|remote| host == remote || host.strip_prefix("api.") == Some(remote));
    match same {
        true => Ok(()),
        false => Err(format!(
            "`release.api` in hpm.yaml names `{host}`, and the package's remote `{remote}` is {}",
            remote_host.map_or("on no host".to_string(), |h| format!("on `{h}`"))
        )),
    }
}

/// The environment variable that holds the token for `kind`.
pub fn token_variable(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::Gitea => "GITEA_TOKEN",
        _ => "GITHUB_TOKEN",
    }
}

impl Forge {
    pub fn new(kind: ForgeKind, api: &str, repo: &str, token: String) -> Forge {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Forge {
            kind,
            api: api.trim_end_matches('/').to_string(),
            repo: repo.to_string(),
            token,
            agent,
        }
    }

    /// The URL of the repository's releases (`…/releases`).
    pub fn releases_url(kind: ForgeKind, api: &str, repo: &str) -> String {
        let prefix = match kind {
            ForgeKind::Gitea => "/api/v1",
            _ => "",
        };
        format!(
            "{}{prefix}/repos/{repo}/releases",
            api.trim_end_matches('/')
        )
    }

    fn url(&self) -> String {
        Self::releases_url(self.kind, &self.api, &self.repo)
    }

    /// Every release, drafts included, page by page.
    pub fn list(&self) -> Result<Vec<ForgeRelease>> {
        let mut all = Vec::new();
        for page in 1.. {
            let url = match self.kind {
                ForgeKind::Gitea => format!("{}?limit=50&page={page}", self.url()),
                _ => format!("{}?per_page=100&page={page}", self.url()),
            };
            let text = self
                .call("GET", &url, None, Retry::ServerErrors)
                .map_err(|e| e.into_error("GET", &url))?;
            let batch: Vec<ForgeRelease> = parse(&text, &url)?;
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
            if page > 100 {
                break;
            }
        }
        Ok(all)
    }

    /// The release whose body holds `marker`.
    pub fn find(&self, marker: &str) -> Result<Option<ForgeRelease>> {
        Ok(self
            .list()?
            .into_iter()
            .find(|r| r.body.as_deref().is_some_and(|b| b.contains(marker))))
    }

    /// Creates a release; a 422 (a release exists for the tag) comes back
    /// as `Ok(None)` for the caller to look again. A POST is not blindly
    /// sent twice: after a server error or a lost answer the release may
    /// exist, so each retry first looks for `marker` in the releases.
    pub fn create(&self, body: &Value, marker: &str) -> Result<Option<ForgeRelease>> {
        let url = self.url();
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt - 1));
                if let Some(found) = self.find(marker)? {
                    return Ok(Some(found));
                }
            }
            match self.call("POST", &url, Some(body), Retry::Never) {
                Ok(text) => return Ok(Some(parse(&text, &url)?)),
                Err(CallError::Status(422, _)) => return Ok(None),
                Err(CallError::Status(status, message)) if status >= 500 => {
                    last = format!("{status}: {message}");
                }
                Err(CallError::Transport(error)) => last = error,
                Err(error) => return Err(error.into_error("POST", &url)),
            }
        }
        Err(CallError::Unavailable(last).into_error("POST", &url))
    }

    pub fn update(&self, id: u64, body: &Value) -> Result<ForgeRelease> {
        let url = format!("{}/{id}", self.url());
        parse(
            &self
                .call("PATCH", &url, Some(body), Retry::ServerErrors)
                .map_err(|e| e.into_error("PATCH", &url))?,
            &url,
        )
    }

    pub fn delete(&self, id: u64) -> Result<()> {
        let url = format!("{}/{id}", self.url());
        self.call("DELETE", &url, None, Retry::ServerErrors)
            .map_err(|e| e.into_error("DELETE", &url))?;
        Ok(())
    }

    /// The latest published, non-prerelease release's tag (`None` when
    /// there is none).
    pub fn latest_tag(&self) -> Result<Option<String>> {
        let url = format!("{}/latest", self.url());
        match self.call("GET", &url, None, Retry::ServerErrors) {
            Ok(text) => Ok(Some(parse::<ForgeRelease>(&text, &url)?.tag_name)),
            Err(CallError::Status(404, _)) => Ok(None),
            Err(error) => Err(error.into_error("GET", &url)),
        }
    }

    /// One call, retried on server errors and waited on rate limits; a
    /// status the caller must judge comes back as `CallError::Status`.
    fn call(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<String, CallError> {
        let authorization = match self.kind {
            ForgeKind::Gitea => format!("token {}", self.token),
            _ => format!("Bearer {}", self.token),
        };
        let mut waited = Duration::ZERO;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            let request = ureq::http::Request::builder()
                .method(method)
                .uri(url)
                .header("Authorization", &authorization)
                .header("Accept", "application/vnd.github+json")
                .header("User-Agent", concat!("hpm/", env!("CARGO_PKG_VERSION")))
                .header("Content-Type", "application/json");
            let request = request
                .body(body.map(|b| b.to_string()).unwrap_or_default())
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let response = match self.agent.run(request) {
                Ok(response) => response,
                Err(error) if retry == Retry::Never => {
                    return Err(CallError::Transport(error.to_string()));
                }
                Err(error) => {
                    last = error.to_string();
                    std::thread::sleep(backoff(attempt));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
            let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0");
            let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
            let text = response.into_body().read_to_string().unwrap_or_default();
            if (200..300).contains(&status) {
                return Ok(text);
            }
            if status == 429 || (status == 403 && (exhausted || retry_after.is_some())) {
                let wait = match (retry_after, reset) {
                    (Some(seconds), _) => Duration::from_secs(seconds),
                    (None, Some(reset)) => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0);
                        Duration::from_secs(reset.saturating_sub(now).max(1))
                    }
                    _ => Duration::from_secs(60),
                };
                if waited + wait > RATE_LIMIT_WAIT {
                    return Err(CallError::RateLimited(wait));
                }
                waited += wait;
                std::thread::sleep(wait);
                continue;
            }
            if status >= 500 && retry == Retry::ServerErrors {
                last = format!("{status}: {}", message_of(&text));
                std::thread::sleep(backoff(attempt));
                continue;
            }
            return Err(CallError::Status(status, message_of(&text)));
        }
        Err(CallError::Unavailable(last))
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt))
}

/// The `message` field of an API error, else the text.
fn message_of(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, url: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Refused {
        message: format!("the forge answered `{url}` with something that is not a release: {e}"),
        hint: Some(
            "check `release.api` (or `HPM_FORGE_API`) points at the forge's API".to_string(),
        ),
    })
}

/// Which failures [`Forge::call`] retries by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Server errors and transport failures: for calls that are safe to
    /// repeat (GET, PATCH to a state, DELETE).
    ServerErrors,
    /// Only rate limits, which the forge answers before doing anything.
    Never,
}

/// Why a call failed.
#[derive(Debug)]
enum CallError {
    Transport(String),
    Status(u16, String),
    RateLimited(Duration),
    Unavailable(String),
}

impl CallError {
    fn into_error(self, method: &str, url: &str) -> Error {
        let (message, hint) = match self {
            CallError::Transport(e) => (format!("{method} {url}: {e}"), "check `release.api`".to_string()),
            CallError::Status(status, message) => (
                format!("{method} {url} was refused ({status}): {message}"),
                match status {
                    401 | 403 => "check the token (`GITHUB_TOKEN`/`GITEA_TOKEN`) and its rights on the repository".to_string(),
                    404 => "check the repository exists on the forge and the token can see it".to_string(),
                    _ => "`hpmctl release resume` tries again".to_string(),
                },
            ),
            CallError::RateLimited(wait) => (
                format!("{method} {url}: the forge's rate limit resets in {} s", wait.as_secs()),
                "run `hpmctl release resume` after the reset".to_string(),
            ),
            CallError::Unavailable(last) => (
                format!("{method} {url}: the forge did not answer after {ATTEMPTS} attempts ({last})"),
                "`hpmctl release resume` tries again".to_string(),
            ),
        };
        Error::Network {
            problems: vec![hpm_core::Problem::new(message).hint(hint)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token_destination;

    #[test]
    fn a_token_goes_over_https_to_the_remotes_forge_or_where_the_user_says() {
        let github = "git@github.com:acme/core.git";
        assert!(token_destination("https://api.github.com", github, false).is_ok());
        assert!(token_destination(
            "https://gitea.example.com/",
            "ssh://git@gitea.example.com/acme/core.git",
            false
        )
        .is_ok());
        assert!(token_destination("http://127.0.0.1:8080", "file:///srv/core.git", false).is_ok());
        assert!(token_destination("http://localhost:3000", github, false).is_ok());

        let plain = token_destination("http://gitea.example.com", github, true).unwrap_err();
        assert!(plain.contains("only over https"), "{plain}");
        let elsewhere =
            token_destination("https://collector.example.net", github, false).unwrap_err();
        assert!(elsewhere.contains("`github.com`"), "{elsewhere}");
        assert!(token_destination("https://collector.example.net", github, true).is_ok());
        assert!(token_destination("not a url", github, true).is_err());
    }
}
