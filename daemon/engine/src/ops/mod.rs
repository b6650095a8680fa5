//! The operations, in cargo's manner: each is a function from a workspace
//! and a request to a typed report (`hpm_protocol::report`), called the
//! same way by the daemon and by `hpmctl --no-daemon`.

pub mod check;
pub mod clone;
pub mod doctor;
pub mod dry_run;
pub mod edit;
pub mod export;
pub mod group;
pub mod image;
pub mod import;
pub mod init;
pub mod registry_update;
pub mod release;
pub mod status;
pub mod sync;
