//! Everything hpm asks of git, through libgit2 (no `git` binary, no shell):
//! listing a remote's refs ([`remote`]), a clone's state ([`repo`]),
//! cloning ([`clone`]), bare caches per URL in the user cache folder
//! ([`cache`]), registries kept in git, read from such a cache
//! ([`registry`]), and packages' own `pyproject.toml` at a ref, for the
//! dependency closure ([`packages`]), and what a release reads of a clone's
//! history ([`history`]). What must be the user's own `git` program runs
//! through [`cli`].

pub mod cache;
pub mod cli;
pub mod clone;
pub mod history;
pub mod packages;
pub mod registry;
pub mod remote;
pub mod repo;
