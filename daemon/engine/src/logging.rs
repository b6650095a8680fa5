//! The log filter `hpmd` and `hpmctl` share: `HPM_LOG` (an `EnvFilter`
//! directive such as `debug` or `hpm_engine=trace`), else the binary's
//! default, with the crates that log secrets held at `info` at most:
//! jsonrpsee traces whole requests and responses, and some requests carry
//! a token (the forge's for a release, a git token for an image build);
//! git2 logs each credential helper's command line, which may hold one;
//! ureq (the forge's HTTP client) hex-dumps every request at trace, its
//! `Authorization` header included. No level or target a user picks puts
//! them in a log: each such target is capped after `HPM_LOG` is read.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// The log targets that may carry a secret at debug or trace.
const SECRET_TARGETS: [&str; 4] = ["jsonrpsee", "git2::cred", "ureq", "ureq_proto"];

pub fn filter(default: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_from_env("HPM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let cap = filter
        .max_level_hint()
        .unwrap_or(LevelFilter::TRACE)
        .min(LevelFilter::INFO);
    for target in SECRET_TARGETS {
        if let Ok(directive) = format!("{target}={cap}").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_stays_at_info_or_less_whatever_the_level() {
        for (default, wire) in [("trace", "=info"), ("info", "=info"), ("warn", "=warn")] {
            let shown = filter(default).to_string();
            for target in SECRET_TARGETS {
                assert!(
                    shown.contains(&format!("{target}{wire}")),
                    "{default}: {shown}"
                );
            }
        }
    }
}
