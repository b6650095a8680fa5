//! Everything hpm asks of git. What talks to a remote runs the user's own
//! `git` program with the caller's environment ([`net`]): listing a
//! remote's refs ([`remote`]), cloning ([`clone`]), fetching the bare
//! caches per URL in the user cache folder ([`cache`]), several remotes
//! at a time but never all at once ([`fan_out`]). Local reads go
//! through libgit2, fast and needing no credentials: a clone's state
//! ([`repo`]), registries kept in git, read from a cache ([`registry`]),
//! packages' own `pyproject.toml` at a ref, for the dependency closure
//! ([`packages`]), and what a release reads of a clone's history
//! ([`history`]). Clones inside the core are kept out of its git
//! ([`exclude`]); an import detaches submodules into clones
//! ([`detach`]). What changes a repository for the user (a release's
//! commits, tags, pushes) runs `git` too ([`cli`]).

pub mod cache;
pub mod cli;
pub mod clone;
pub mod detach;
pub mod exclude;
pub mod fan_out;
pub mod history;
pub mod net;
pub mod packages;
pub mod registry;
pub mod remote;
pub mod repo;
