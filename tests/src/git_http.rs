//! A private git server over smart HTTPS: `git http-backend` behind a
//! small Python server that refuses every request without the token (as a
//! forge's private repository does), serving a world's bare remotes with a
//! certificate made for the test (`openssl`). It stands in for a private
//! GitHub repository that only a token can read, and records what it was
//! asked and whether the token came with it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::wait_for;

const SERVER: &str = include_str!("git_http_server.py");

pub struct GitHttpServer {
    child: Child,
    port: u16,
    log: PathBuf,
    /// The server's self-signed certificate, the CA its clients trust.
    pub certificate: PathBuf,
}

impl GitHttpServer {
    /// Serves the bare repositories under `root`, answering only requests
    /// whose Basic credentials carry `token` as the password; its files go
    /// in `dir`.
    pub fn start(root: &Path, token: &str, dir: &Path) -> Result<GitHttpServer> {
        std::fs::create_dir_all(dir)?;
        let script = dir.join("git_http_server.py");
        std::fs::write(&script, SERVER)?;
        let port_file = dir.join("port");
        let log = dir.join("requests.log");
        std::fs::write(&log, "")?;
        let certificate = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&certificate)
            .output()
            .context("running openssl for the git server's certificate")?;
        anyhow::ensure!(made.status.success(), "openssl: {}", crate::describe(&made));
        let child = Command::new("python3")
            .arg(&script)
            .arg(root)
            .arg(token)
            .arg(&port_file)
            .arg(&log)
            .arg(&certificate)
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting python3 for the git HTTP server")?;
        let mut server = GitHttpServer {
            child,
            port: 0,
            log,
            certificate,
        };
        wait_for("the git HTTP server's port", || port_file.is_file())?;
        server.port = std::fs::read_to_string(&port_file)?
            .trim()
            .parse()
            .context("the git HTTP server's port")?;
        Ok(server)
    }

    /// The URL of the bare repository `name` (`plugin-c.git`).
    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.port)
    }

    /// Each request so far: `METHOD PATH authorised|refused`.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many requests came with the token.
    pub fn authorised(&self) -> usize {
        self.requests()
            .iter()
            .filter(|line| line.ends_with(" authorised"))
            .count()
    }

    /// The environment of a user whose git knows the token: a git config
    /// in `XDG_CONFIG_HOME` whose credential helper answers with `token`
    /// (read by the git CLI uv runs and by hpm's libgit2 alike), and the
    /// server's certificate trusted (`GIT_SSL_CAINFO` for git,
    /// `SSL_CERT_FILE` for libgit2's OpenSSL).
    pub fn git_env(&self, token: &str) -> Result<Vec<(String, String)>> {
        let home = self.log.with_file_name("xdg");
        std::fs::create_dir_all(home.join("git"))?;
        std::fs::write(
            home.join("git/config"),
            format!(
                "[credential]\n\thelper = \"!f() {{ echo username=x-access-token; echo password={token}; }}; f\"\n"
            ),
        )?;
        let certificate = self.certificate.display().to_string();
        Ok(vec![
            ("XDG_CONFIG_HOME".to_string(), home.display().to_string()),
            ("GIT_SSL_CAINFO".to_string(), certificate.clone()),
            ("SSL_CERT_FILE".to_string(), certificate),
        ])
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
