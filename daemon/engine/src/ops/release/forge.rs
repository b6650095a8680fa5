//! The forge's releases API: GitHub's REST API (`/repos/{owner}/{repo}/releases`)
//! and Gitea/Forgejo's, which has the same shapes under `/api/v1`.
//!
//! A release is made as a draft, then published. Drafts are invisible to
//! get-by-tag, so hpm finds its release again by listing releases and
//! looking for the hidden marker in the body. Server errors are retried
//! with backoff, a rate limit is waited out (up to a bound), and the token
//! travels only in the `Authorization` header: it is never part of an
//! effect, the journal, or a message.

use std::collections::HashSet;
use std::time::{Duration, Instant};

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
/// The longest one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest one lookup may take, every page, retry, backoff and
/// rate-limit wait included: a forge that answers slowly or not at all
/// ends in an error within this, not in minutes of silence.
const DEADLINE: Duration = Duration::from_secs(240);
/// The most pages of releases one lookup reads (10 000 on GitHub).
const MAX_PAGES: u32 = 100;

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
pub struct Forge<'a> {
    kind: ForgeKind,
    api: String,
    repo: String,
    token: String,
    agent: ureq::Agent,
    /// How long one lookup may take (`DEADLINE`).
    deadline: Duration,
    /// Told each wait (a retry's backoff, a rate limit) as it begins, so a
    /// person sees why nothing moves ([`Waiting`]).
    waiting: Waiting<'a>,
}

/// Where a release says it waits on the forge: the terminal for hpmctl,
/// an event for the daemon's clients.
pub type Waiting<'a> = &'a dyn Fn(&str);

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

impl<'a> Forge<'a> {
    pub fn new(
        kind: ForgeKind,
        api: &str,
        repo: &str,
        token: String,
        waiting: Waiting<'a>,
    ) -> Forge<'a> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        Forge {
            kind,
            api: api.trim_end_matches('/').to_string(),
            repo: repo.to_string(),
            token,
            agent,
            deadline: DEADLINE,
            waiting,
        }
    }

    #[cfg(test)]
    fn with_deadline(mut self, deadline: Duration) -> Forge<'a> {
        self.deadline = deadline;
        self
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.deadline
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

    /// Every release, drafts included, page by page, within one deadline.
    /// A forge that ignores `page` (answers a page with releases it gave
    /// before) or has more than `MAX_PAGES` pages is an error: hpm never
    /// decides on a list it knows to be partial.
    pub fn list(&self) -> Result<Vec<ForgeRelease>> {
        let deadline = self.deadline();
        let mut all = Vec::new();
        let mut seen = HashSet::new();
        for page in 1..=MAX_PAGES {
            let url = match self.kind {
                ForgeKind::Gitea => format!("{}?limit=50&page={page}", self.url()),
                _ => format!("{}?per_page=100&page={page}", self.url()),
            };
            let text = self
                .call("GET", &url, None, Retry::ServerErrors, deadline)
                .map_err(|e| e.into_error("GET", &url))?;
            let batch: Vec<ForgeRelease> = parse(&text, &url)?;
            if batch.is_empty() {
                return Ok(all);
            }
            let fresh = batch
                .iter()
                .filter(|release| seen.insert(release.id))
                .count();
            if fresh == 0 {
                return Err(partial_list(
                    &url,
                    format!("page {page} holds only releases an earlier page gave: the forge ignores `page`"),
                ));
            }
            all.extend(batch);
        }
        Err(partial_list(
            &self.url(),
            format!("the releases go on past {MAX_PAGES} pages"),
        ))
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
                let wait = backoff(attempt - 1);
                self.tell(format!(
                    "the forge: POST {url} failed ({last}); in {} ms, looking for the release it may have made, then attempt {} of {ATTEMPTS}",
                    wait.as_millis(),
                    attempt + 1
                ));
                std::thread::sleep(wait);
                if let Some(found) = self.find(marker)? {
                    return Ok(Some(found));
                }
            }
            match self.call("POST", &url, Some(body), Retry::Never, self.deadline()) {
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
                .call(
                    "PATCH",
                    &url,
                    Some(body),
                    Retry::ServerErrors,
                    self.deadline(),
                )
                .map_err(|e| e.into_error("PATCH", &url))?,
            &url,
        )
    }

    pub fn delete(&self, id: u64) -> Result<()> {
        let url = format!("{}/{id}", self.url());
        self.call("DELETE", &url, None, Retry::ServerErrors, self.deadline())
            .map_err(|e| e.into_error("DELETE", &url))?;
        Ok(())
    }

    /// The latest published, non-prerelease release's tag (`None` when
    /// there is none).
    pub fn latest_tag(&self) -> Result<Option<String>> {
        let url = format!("{}/latest", self.url());
        match self.call("GET", &url, None, Retry::ServerErrors, self.deadline()) {
            Ok(text) => Ok(Some(parse::<ForgeRelease>(&text, &url)?.tag_name)),
            Err(CallError::Status(404, _)) => Ok(None),
            Err(error) => Err(error.into_error("GET", &url)),
        }
    }

    /// Says that a call failed and is tried again, then waits out the
    /// backoff (never past `deadline`).
    fn retrying(&self, method: &str, url: &str, why: &str, attempt: u32, deadline: Instant) {
        if attempt + 1 >= ATTEMPTS {
            return;
        }
        let wait = backoff(attempt).min(deadline.saturating_duration_since(Instant::now()));
        self.tell(format!(
            "the forge: {method} {url} failed ({why}); attempt {} of {ATTEMPTS} in {} ms",
            attempt + 2,
            wait.as_millis()
        ));
        std::thread::sleep(wait);
    }

    /// A wait, to the log and to whoever runs the release.
    fn tell(&self, message: String) {
        tracing::info!("{message}");
        (self.waiting)(&message);
    }

    /// One call, retried on server errors and waited on rate limits, all
    /// by `deadline`; a status the caller must judge comes back as
    /// `CallError::Status`. Each wait is told as it begins ([`Waiting`]).
    fn call(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        retry: Retry,
        deadline: Instant,
    ) -> Result<String, CallError> {
        let authorization = match self.kind {
            ForgeKind::Gitea => format!("token {}", self.token),
            _ => format!("Bearer {}", self.token),
        };
        let mut waited = Duration::ZERO;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CallError::TimedOut(self.deadline, last));
            }
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
            let request = self
                .agent
                .configure_request(request)
                .timeout_global(Some(left.min(REQUEST_TIMEOUT)))
                .build();
            let response = match self.agent.run(request) {
                Ok(response) => response,
                Err(error) if retry == Retry::Never => {
                    return Err(CallError::Transport(error.to_string()));
                }
                Err(error) => {
                    last = error.to_string();
                    self.retrying(method, url, &last, attempt, deadline);
                    continue;
                }
            };
            let Answer {
                status,
                text,
                rate_limited,
            } = Answer::of(response);
            if (200..300).contains(&status) {
                return Ok(text);
            }
            if let Some(wait) = rate_limited {
                if waited + wait > RATE_LIMIT_WAIT || Instant::now() + wait > deadline {
                    return Err(CallError::RateLimited(wait));
                }
                waited += wait;
                self.tell(format!(
                    "the forge's rate limit: waiting {} s before {method} {url} again",
                    wait.as_secs()
                ));
                std::thread::sleep(wait);
                continue;
            }
            if status >= 500 && retry == Retry::ServerErrors {
                last = format!("{status}: {}", message_of(&text));
                self.retrying(method, url, &last, attempt, deadline);
                continue;
            }
            return Err(CallError::Status(status, message_of(&text)));
        }
        Err(CallError::Unavailable(last))
    }
}

/// What the forge answered: the status, the body, and how long its rate
/// limit asks to wait (`None`: not rate-limited).
struct Answer {
    status: u16,
    text: String,
    rate_limited: Option<Duration>,
}

impl Answer {
    fn of(response: ureq::http::Response<ureq::Body>) -> Answer {
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
        let limited = status == 429 || (status == 403 && (exhausted || retry_after.is_some()));
        let rate_limited = limited.then(|| match (retry_after, reset) {
            (Some(seconds), _) => Duration::from_secs(seconds),
            (None, Some(reset)) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                Duration::from_secs(reset.saturating_sub(now).max(1))
            }
            _ => Duration::from_secs(60),
        });
        let text = response.into_body().read_to_string().unwrap_or_default();
        Answer {
            status,
            text,
            rate_limited,
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt))
}

/// A release list hpm will not decide on: it is known to miss releases.
fn partial_list(url: &str, why: String) -> Error {
    Error::Network {
        problems: vec![hpm_core::Problem::new(format!(
            "GET {url}: {why}, so hpm cannot see every release (and might make one twice)"
        ))
        .hint("check that `release.api` (or `HPM_FORGE_API`) is the forge's API; `hpmctl release resume` tries again")],
    }
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
    /// The deadline passed; the last failure.
    TimedOut(Duration, String),
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
            CallError::TimedOut(deadline, last) => (
                format!("{method} {url}: the forge did not answer within {} s ({last})", deadline.as_secs()),
                "check the forge's status and `release.api`; `hpmctl release resume` tries again".to_string(),
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
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use hpm_core::manifest::ForgeKind;

    use super::{token_destination, Forge};

    /// A forge on a local port: `answer` gives each request's JSON body,
    /// `None` to hold the connection without a word. Answers the URL and
    /// the count of requests read.
    fn local_forge(answer: fn() -> Option<&'static str>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    request.push(byte[0]);
                }
                counted.fetch_add(1, Ordering::SeqCst);
                match answer() {
                    Some(body) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    None => held.push(stream),
                }
            }
        });
        (url, requests)
    }

    /// Regression: a forge that ignores `page` was read 101 times per
    /// lookup, and its repeated releases taken as more releases. The
    /// second page, all seen before, ends the lookup in an error.
    #[test]
    fn a_forge_that_ignores_page_is_refused_after_two_pages() {
        let (url, requests) = local_forge(|| {
            Some(r#"[{"id": 7, "tag_name": "v1.0.0"}, {"id": 8, "tag_name": "v1.1.0"}]"#)
        });
        let forge = Forge::new(ForgeKind::Github, &url, "acme/alpha", "t".into(), &|_| {});
        let error = forge.list().unwrap_err().to_string();
        assert!(error.contains("the forge ignores `page`"), "{error}");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    /// Regression: a forge that never answers held a lookup for five
    /// attempts of 60 s each, per page. One deadline covers the lookup.
    #[test]
    fn a_forge_that_does_not_answer_ends_the_lookup_by_its_deadline() {
        let (url, _) = local_forge(|| None);
        let forge = Forge::new(ForgeKind::Github, &url, "acme/alpha", "t".into(), &|_| {})
            .with_deadline(Duration::from_secs(2));
        let error = forge.list().unwrap_err().to_string();
        assert!(error.contains("did not answer within 2 s"), "{error}");
    }

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
