//! Everything hpm asks of git, through libgit2 (no `git` binary, no shell):
//! listing a remote's refs ([`remote`]), a clone's state ([`repo`]),
//! cloning ([`clone`]), and registries kept in git, read from a bare cache
//! per URL in the user cache folder ([`registry`]).

pub mod clone;
pub mod registry;
pub mod remote;
pub mod repo;
