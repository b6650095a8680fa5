//! A fake forge for the release tests: GitHub's releases API
//! (`/repos/{owner}/{repo}/releases…`, and Gitea's under `/api/v1`) served
//! on a local port, keeping releases in memory and recording every call.
//!
//! It behaves as the documented service does where hpm depends on it:
//! drafts are listed but hidden from get-by-tag and `/latest`; a second
//! published release for a tag is a 422 `already_exists`; a missing or
//! wrong token is a 401; pages follow `per_page`/`limit` and `page`. Faults
//! can be queued: a server error, an answer lost after the change was made,
//! a rate limit.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{json, Value};

/// The token the fake accepts.
pub const TOKEN: &str = "fake-forge-token";

/// The form `secret` takes in `text`, if it is there in any: as text, in
/// hex (packed or spaced, as wire traces dump headers), in the base64 of a
/// Basic `Authorization` header, or half of it. Case is ignored.
pub fn leaked_form(text: &str, secret: &str) -> Option<&'static str> {
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let spaced: String = secret.bytes().map(|b| format!("{b:02x} ")).collect();
    let text = text.to_lowercase();
    [
        ("text", secret.to_string()),
        ("hex", hex),
        ("spaced hex", spaced.trim_end().to_string()),
        ("basic auth", base64_of(&format!("x-access-token:{secret}"))),
        ("first half", secret[..secret.len() / 2].to_string()),
    ]
    .into_iter()
    .find(|(_, needle)| text.contains(&needle.to_lowercase()))
    .map(|(form, _)| form)
}

/// Standard base64 of `text`.
fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

/// One call hpm made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path and query, as sent.
    pub url: String,
    /// The `Authorization` header was the fake's token (`Bearer` or
    /// `token`).
    pub authorized: bool,
    pub body: Option<Value>,
    /// The status the fake answered.
    pub status: u16,
}

/// A fault for the next call of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 502, nothing done.
    ServerError,
    /// The change is made, then the answer is a 502 (a proxy that lost it).
    LostAnswer,
    /// 403 with `x-ratelimit-remaining: 0` and a reset one second away.
    RateLimited,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// (repository, release) in creation order.
    releases: Vec<(String, Value)>,
    calls: Vec<Call>,
    faults: VecDeque<(String, Fault)>,
}

/// A running fake forge; stopped when dropped.
pub struct FakeForge {
    url: String,
    state: Arc<Mutex<State>>,
    /// `None` once stopped: dropping the last handle closes the port.
    server: Option<Arc<tiny_http::Server>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        self.stop();
    }
}

impl FakeForge {
    pub fn start() -> anyhow::Result<FakeForge> {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(|e| anyhow::anyhow!("{e}"))?);
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| anyhow::anyhow!("the fake forge has no port"))?;
        let state = Arc::new(Mutex::new(State {
            next_id: 1,
            ..State::default()
        }));
        let thread = {
            let server = server.clone();
            let state = state.clone();
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    serve(&state, request);
                }
            })
        };
        Ok(FakeForge {
            url: format!("http://127.0.0.1:{port}"),
            state,
            server: Some(server),
            thread: Some(thread),
        })
    }

    /// Takes the forge down: its port refuses connections from now on, as a
    /// forge that is down does.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.unblock();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// The API's base URL (`HPM_FORGE_API`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next call with `method` meets `fault`.
    pub fn fault_next(&self, method: &str, fault: Fault) {
        self.state().faults.push_back((method.to_string(), fault));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls that changed something (POST, PATCH, DELETE).
    pub fn writes(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method != "GET")
            .collect()
    }

    /// The releases of `repo` (`owner/name`), drafts included.
    pub fn releases(&self, repo: &str) -> Vec<Value> {
        self.state()
            .releases
            .iter()
            .filter(|(r, _)| r == repo)
            .map(|(_, release)| release.clone())
            .collect()
    }

    /// Every release, with its repository, for comparing states.
    pub fn snapshot(&self) -> Vec<(String, Value)> {
        self.state().releases.clone()
    }

    /// A release made by someone else (as a person on the web page would).
    pub fn add_release(&self, repo: &str, tag: &str, draft: bool) {
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        state.releases.push((
            repo.to_string(),
            json!({ "id": id, "tag_name": tag, "name": tag, "body": "by hand", "draft": draft, "prerelease": false }),
        ));
    }
}

/// What one request gets.
struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn new(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            headers: Vec::new(),
        }
    }

    fn error(status: u16, message: &str) -> Answer {
        Answer::new(status, json!({ "message": message }))
    }
}

fn serve(state: &Mutex<State>, mut request: tiny_http::Request) {
    let method = request.method().as_str().to_string();
    let url = request.url().to_string();
    let authorized = request.headers().iter().any(|h| {
        h.field.equiv("Authorization")
            && (h.value.as_str() == format!("Bearer {TOKEN}")
                || h.value.as_str() == format!("token {TOKEN}"))
    });
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(request.as_reader(), &mut text);
    let body: Option<Value> = serde_json::from_str(&text).ok();
    let answer = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let fault = state
            .faults
            .iter()
            .position(|(m, _)| *m == method)
            .and_then(|i| state.faults.remove(i))
            .map(|(_, fault)| fault);
        let answer = match fault {
            Some(Fault::ServerError) => Answer::error(502, "Bad Gateway"),
            Some(Fault::RateLimited) => {
                let reset = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() + 1)
                    .unwrap_or(0);
                let mut answer = Answer::error(403, "API rate limit exceeded");
                answer
                    .headers
                    .push(("x-ratelimit-remaining", "0".to_string()));
                answer
                    .headers
                    .push(("x-ratelimit-reset", reset.to_string()));
                answer
            }
            Some(Fault::LostAnswer) => {
                let _ = route(&mut state, &method, &url, authorized, body.as_ref());
                Answer::error(502, "Bad Gateway")
            }
            None => route(&mut state, &method, &url, authorized, body.as_ref()),
        };
        state.calls.push(Call {
            method: method.clone(),
            url: url.clone(),
            authorized,
            body,
            status: answer.status,
        });
        answer
    };
    let mut response =
        tiny_http::Response::from_string(answer.body.to_string()).with_status_code(answer.status);
    let headers =
        std::iter::once(("Content-Type", "application/json".to_string())).chain(answer.headers);
    for (name, value) in headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name, value) {
            response = response.with_header(header);
        }
    }
    let _ = request.respond(response);
}

/// GitHub's behaviour for the paths hpm uses.
fn route(
    state: &mut State,
    method: &str,
    url: &str,
    authorized: bool,
    body: Option<&Value>,
) -> Answer {
    if !authorized {
        return Answer::error(401, "Bad credentials");
    }
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["repos", owner, name, "releases", rest @ ..] = parts.as_slice() else {
        return Answer::error(404, "Not Found");
    };
    let repo = format!("{owner}/{name}");
    let of_repo = |state: &State| -> Vec<Value> {
        state
            .releases
            .iter()
            .filter(|(r, _)| *r == repo)
            .map(|(_, release)| release.clone())
            .collect()
    };
    let published_with_tag = |state: &State, tag: &str, except: Option<u64>| {
        state.releases.iter().any(|(r, release)| {
            *r == repo
                && release["tag_name"] == tag
                && release["draft"] == false
                && Some(release["id"].as_u64().unwrap_or(0)) != except
        })
    };
    let already_exists = || {
        Answer::new(
            422,
            json!({ "message": "Validation Failed", "errors": [{ "resource": "Release", "code": "already_exists", "field": "tag_name" }] }),
        )
    };
    match (method, rest) {
        ("GET", []) => {
            let number = |key: &str, default: usize| {
                query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == key)
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(default)
            };
            let per_page = number("per_page", number("limit", 30)).clamp(1, 100);
            let page = number("page", 1).max(1);
            // Newest first, as GitHub lists them.
            let mut all = of_repo(state);
            all.reverse();
            let shown: Vec<Value> = all
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            Answer::new(200, Value::Array(shown))
        }
        ("GET", ["latest"]) => of_repo(state)
            .into_iter()
            .rev()
            .find(|r| r["draft"] == false && r["prerelease"] == false)
            .map(|r| Answer::new(200, r))
            .unwrap_or_else(|| Answer::error(404, "Not Found")),
        ("GET", ["tags", tag]) => of_repo(state)
            .into_iter()
            .find(|r| r["draft"] == false && r["tag_name"] == *tag)
            .map(|r| Answer::new(200, r))
            .unwrap_or_else(|| Answer::error(404, "Not Found")),
        ("POST", []) => {
            let Some(body) = body.filter(|b| b["tag_name"].is_string()) else {
                return Answer::error(422, "Validation Failed: tag_name is missing");
            };
            let draft = body["draft"].as_bool().unwrap_or(false);
            let tag = body["tag_name"].as_str().unwrap_or_default();
            if !draft && published_with_tag(state, tag, None) {
                return already_exists();
            }
            let id = state.next_id;
            state.next_id += 1;
            let release = json!({
                "id": id,
                "tag_name": tag,
                "name": body["name"],
                "body": body["body"],
                "draft": draft,
                "prerelease": body["prerelease"].as_bool().unwrap_or(false),
            });
            state.releases.push((repo.clone(), release.clone()));
            Answer::new(201, release)
        }
        ("PATCH", [id]) | ("DELETE", [id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Answer::error(404, "Not Found");
            };
            let Some(index) = state
                .releases
                .iter()
                .position(|(r, release)| *r == repo && release["id"] == id)
            else {
                return Answer::error(404, "Not Found");
            };
            if method == "DELETE" {
                state.releases.remove(index);
                return Answer::new(204, Value::Null);
            }
            let patch = body.cloned().unwrap_or(Value::Null);
            let tag = state.releases[index].1["tag_name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if patch["draft"] == false && published_with_tag(state, &tag, Some(id)) {
                return already_exists();
            }
            let release = &mut state.releases[index].1;
            for key in ["draft", "prerelease", "body", "name", "make_latest"] {
                if !patch[key].is_null() {
                    release[key] = patch[key].clone();
                }
            }
            Answer::new(200, release.clone())
        }
        _ => Answer::error(404, "Not Found"),
    }
}
