//! Whom a job runs for: the environment its git and uv processes get, and
//! whether someone sits at a terminal to answer a prompt.
//!
//! In-process (`hpmctl --no-daemon`) the caller is this process: its whole
//! environment, and a terminal when stdin is one. In the daemon the caller
//! is the client that sent the request: the variables
//! [`hpm_protocol::env::is_forwarded`] names are taken from what it sent
//! (and removed when it did not send them), everything else is the
//! daemon's; there is never a terminal. Values are held in memory only:
//! `Debug` names the variables, never their values.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use hpm_protocol::env::is_forwarded;
use hpm_protocol::ClientEnv;

/// The environment and terminal of the one a job runs for.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The forwarded variables a client sent; `None` is this process's own
    /// environment.
    sent: Option<Arc<BTreeMap<String, String>>>,
    /// A person at a terminal may answer git's and ssh's prompts.
    interactive: bool,
}

impl Caller {
    /// This process's environment, with no one to answer a prompt (the
    /// daemon's own jobs, tests, CI).
    pub fn this_process() -> Caller {
        Caller::default()
    }

    /// This process's environment; `interactive` when its stdin is a
    /// terminal a person may type a passphrase into.
    pub fn at_terminal(interactive: bool) -> Caller {
        Caller {
            sent: None,
            interactive,
        }
    }

    /// The client that sent `env` with its request.
    pub fn sent(env: &ClientEnv) -> Caller {
        let vars = env
            .vars
            .iter()
            .filter(|(name, _)| is_forwarded(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Caller {
            sent: Some(Arc::new(vars)),
            interactive: false,
        }
    }

    /// Whether a person may answer a prompt.
    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// The caller's value of the forwarded variable `name`.
    pub fn var(&self, name: &str) -> Option<String> {
        match &self.sent {
            Some(sent) => sent.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Gives `command` the caller's environment: the forwarded variables
    /// are the client's (those it did not send are removed), the rest the
    /// daemon's.
    pub fn apply(&self, command: &mut Command) {
        let Some(sent) = &self.sent else {
            return;
        };
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_forwarded) {
                command.env_remove(&name);
            }
        }
        command.envs(sent.iter());
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&String> = self.sent.iter().flat_map(|sent| sent.keys()).collect();
        f.debug_struct("Caller")
            .field("sent", &names)
            .field("interactive", &self.interactive)
            .finish()
    }
}
