//! A team's private ssh remote, for real: OpenSSH's `sshd` on 127.0.0.1
//! with key-only auth, and a test user (made with `useradd`, removed at
//! the end) who is both the login on the server and the one running
//! hpm, because ssh reads `~/.ssh` from the passwd home, never `$HOME`.
//! Needs root (`useradd`, `sshd`) and Debian's openssh-server, which
//! `tests/remote-tools` installs.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{Context, Result};

use crate::{describe, wait_for};

/// How this machine reaches the package registries, kept for the user.
const NETWORK_VARIABLES: [&str; 9] = [
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// A user of the tests' own, with a home in a temporary folder.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl TestUser {
    /// A new user whose home is `home` (created), with a password that
    /// locks nothing but allows no password login (`*`).
    pub fn create(home: &Path) -> Result<TestUser> {
        // Tests of one binary run at once in one process: a number each.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("hpmt{}x{made}", std::process::id() % 100_000);
        let _ = Command::new("userdel").arg(&name).output();
        run(Command::new("useradd")
            .args(["-M", "-U", "-s", "/bin/sh", "-p", "*", "-d"])
            .arg(home)
            .arg(&name))?;
        std::fs::create_dir_all(home.join(".ssh"))?;
        let id = |flag: &str| -> Result<u32> {
            let output = Command::new("id").arg(flag).arg(&name).output()?;
            Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
        };
        let user = TestUser {
            uid: id("-u")?,
            gid: id("-g")?,
            home: home.to_path_buf(),
            name,
        };
        user.give(home)?;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(home.join(".ssh"), std::fs::Permissions::from_mode(0o700))?;
        Ok(user)
    }

    /// Makes `path` (and everything under it) the user's.
    pub fn give(&self, path: &Path) -> Result<()> {
        run(Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path))
    }

    /// `program` run as this user, with a clean environment of its own
    /// (`HOME`, `USER`, a `PATH` of the system's programs), and this
    /// machine's way to the package registries (proxies, CA bundles).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env_clear();
        for name in NETWORK_VARIABLES {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .uid(self.uid)
            .gid(self.gid)
            .stdin(Stdio::null());
        command
    }

    /// A new ed25519 key `~/.ssh/NAME` (with `passphrase`, or none), its
    /// public half added to `~/.ssh/authorized_keys`.
    pub fn key(&self, name: &str, passphrase: &str) -> Result<PathBuf> {
        let path = self.home.join(".ssh").join(name);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(path.with_extension("pub"));
        run(self
            .command("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f"])
            .arg(&path))?;
        let public = std::fs::read_to_string(path.with_extension("pub"))?;
        let authorized = self.home.join(".ssh/authorized_keys");
        let mut keys = std::fs::read_to_string(&authorized).unwrap_or_default();
        keys.push_str(&public);
        std::fs::write(&authorized, keys)?;
        self.give(&self.home.join(".ssh"))?;
        Ok(path)
    }

    /// A `GIT_SSH_COMMAND` for another user (root) to log in as this one
    /// with `key`, trusting the hosts this user trusts.
    pub fn ssh_command_with(&self, key: &Path) -> String {
        format!(
            "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={}",
            key.display(),
            self.home.join(".ssh/known_hosts").display()
        )
    }

    /// Writes a file of the user's, owned by them.
    pub fn write(&self, relative: &str, text: &str) -> Result<PathBuf> {
        let path = self.home.join(relative);
        std::fs::write(&path, text)?;
        self.give(&path)?;
        Ok(path)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .arg("-KILL")
            .arg("-u")
            .arg(&self.name)
            .output();
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// OpenSSH's sshd on 127.0.0.1, key-only, for one user; stopped (by its
/// PID) when dropped.
pub struct SshServer {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl SshServer {
    /// Starts sshd with its files in `dir`, letting only `user` in (by
    /// key), and writes its host key into the user's `known_hosts`.
    pub fn start(dir: &Path, user: &TestUser) -> Result<SshServer> {
        std::fs::create_dir_all(dir)?;
        std::fs::create_dir_all("/run/sshd")?;
        let host_key = dir.join("host_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile .ssh/authorized_keys\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nAllowUsers {}\nLogLevel VERBOSE\n",
                host_key.display(),
                dir.join("sshd.pid").display(),
                user.name
            ),
        )?;
        let log = dir.join("sshd.log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context(
                "starting /usr/sbin/sshd (Debian's openssh-server; tests/remote-tools installs it)",
            )?;
        let server = SshServer { child, port, log };
        wait_for("sshd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        let public = std::fs::read_to_string(host_key.with_extension("pub"))?;
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        user.write(
            ".ssh/known_hosts",
            &format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
        )?;
        Ok(server)
    }

    /// What sshd logged.
    pub fn said(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

fn run(command: &mut Command) -> Result<()> {
    let output: Output = command.output().with_context(|| format!("{command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?}: {}",
        describe(&output)
    );
    Ok(())
}
