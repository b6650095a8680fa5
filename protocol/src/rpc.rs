//! The JSON-RPC API (`hpm_*` methods) and the socket path rule.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;

use crate::release::ApplyReport;
use crate::report::{
    CheckReport, DoctorReport, ExportReport, ExportRequest, GroupListing, ImageBuildRequest,
    ImageReport, RegistryUpdate, ReleaseApplyRequest, SyncReport,
};
use crate::{Change, ClientEnv, Event, Hello};

/// The API. Every method that takes `workspace` takes the root folder
/// holding `hpm.yaml` (absolute). A method that may run git or uv takes
/// the caller's `env` last (the variables of [`crate::env`], kept in
/// memory for that job): without it, the last one sent for the workspace
/// is used, else the daemon's own environment.
#[rpc(server, client, namespace = "hpm")]
pub trait HpmApi {
    /// Version and capability handshake.
    #[method(name = "hello")]
    async fn hello(&self) -> Result<Hello, ErrorObjectOwned>;

    /// The workspace's status (see the README for the fields). The daemon
    /// answers from its live view, which learns of a change in a dev clone
    /// when its watcher reports it (after a debounce of about 100 ms, with a
    /// `repo_changed` event); `fresh: true` first waits for the watcher to
    /// have seen every change made before the request (a sync cookie), so
    /// that a read right after a save or a `git commit` sees it (`hpmctl
    /// status` asks for this). The report travels as it was serialized
    /// when computed, so a cached one costs no re-encoding.
    #[method(name = "status")]
    async fn status(
        &self,
        workspace: PathBuf,
        fresh: Option<bool>,
    ) -> Result<Box<serde_json::value::RawValue>, ErrorObjectOwned>;

    /// Queues a change and answers with the sync report when it is done. An
    /// equal change already queued is merged with this one.
    #[method(name = "apply")]
    async fn apply(
        &self,
        workspace: PathBuf,
        change: Change,
        env: Option<ClientEnv>,
    ) -> Result<SyncReport, ErrorObjectOwned>;

    /// Cancels the workspace's running job (uv is killed, files restored)
    /// and drops the queued ones. Answers whether a job was running.
    #[method(name = "cancel")]
    async fn cancel(&self, workspace: PathBuf) -> Result<bool, ErrorObjectOwned>;

    /// CI's checks: manifest valid, pyproject matches the plan, lock current,
    /// no local path source outside dev.
    #[method(name = "check")]
    async fn check(
        &self,
        workspace: PathBuf,
        env: Option<ClientEnv>,
    ) -> Result<CheckReport, ErrorObjectOwned>;

    /// `check` for other modes than the current one, without switching
    /// (`hpmctl check --mode M`, `--all-modes`): one report per mode, in
    /// the order asked; no modes is every mode the workspace names.
    #[method(name = "checkModes")]
    async fn check_modes(
        &self,
        workspace: PathBuf,
        modes: Vec<hpm_core::Mode>,
        env: Option<ClientEnv>,
    ) -> Result<Vec<CheckReport>, ErrorObjectOwned>;

    /// For a pre-commit hook (`hpmctl check --staged`): the
    /// `pyproject.toml` staged for commit is what hpm writes for the mode
    /// `hpm.yaml` names, whatever mode this clone is in.
    #[method(name = "checkStaged")]
    async fn check_staged(
        &self,
        workspace: PathBuf,
        env: Option<ClientEnv>,
    ) -> Result<CheckReport, ErrorObjectOwned>;

    /// Writes `MODE/pyproject.toml` and `MODE/uv.lock` for a mode (see
    /// `hpmctl export`); the core's own files are not touched.
    #[method(name = "export")]
    async fn export(
        &self,
        workspace: PathBuf,
        request: ExportRequest,
        env: Option<ClientEnv>,
    ) -> Result<ExportReport, ErrorObjectOwned>;

    /// The manifest's groups by name, each with its options and selection
    /// (`hpmctl group list`).
    #[method(name = "groupList")]
    async fn group_list(
        &self,
        workspace: PathBuf,
    ) -> Result<BTreeMap<String, GroupListing>, ErrorObjectOwned>;

    /// Fetches the workspace's git registries, moves their pins to what each
    /// `ref` names now, and answers what changed (`[{url, from, to, added,
    /// removed, moved}]`). With auto-sync on, a changed plan then resyncs.
    #[method(name = "registryUpdate")]
    async fn registry_update(
        &self,
        workspace: PathBuf,
        env: Option<ClientEnv>,
    ) -> Result<Vec<RegistryUpdate>, ErrorObjectOwned>;

    /// Builds (and with `push`, pushes) the image of a mode (see `hpmctl
    /// image build`): each line of the container engine's output is an
    /// `image_progress` event, a built image an `image_built`; `cancel`
    /// stops it (the engine's process group is killed). One build per
    /// workspace at a time (a second is refused).
    #[method(name = "imageBuild")]
    async fn image_build(
        &self,
        workspace: PathBuf,
        request: ImageBuildRequest,
        env: Option<ClientEnv>,
    ) -> Result<ImageReport, ErrorObjectOwned>;

    /// Applies (or, dry, describes) a release `hpmctl release plan` wrote,
    /// in the daemon: each step that ends is a `release_step` event, the
    /// end a `release_finished`; answers the report `hpmctl --json release
    /// apply` prints. Two runs of one release never overlap (the second is
    /// refused). The daemon's environment is used for git (identity,
    /// signing); the forge token comes in the request or from it.
    #[method(name = "releaseApply")]
    async fn release_apply(
        &self,
        workspace: PathBuf,
        request: ReleaseApplyRequest,
        env: Option<ClientEnv>,
    ) -> Result<ApplyReport, ErrorObjectOwned>;

    /// `hpmctl doctor` from the daemon's side: git and uv as the caller's
    /// jobs would find them, the daemon's version, and for each remote the
    /// workspace uses (when one is given), whether it answers with the
    /// caller's credentials.
    #[method(name = "doctor")]
    async fn doctor(
        &self,
        workspace: Option<PathBuf>,
        env: Option<ClientEnv>,
    ) -> Result<DoctorReport, ErrorObjectOwned>;

    /// Stops the daemon after the job in flight finishes or rolls back.
    #[method(name = "shutdown")]
    async fn shutdown(&self) -> Result<(), ErrorObjectOwned>;

    /// Every event of every workspace (clients filter by `workspace`).
    #[subscription(name = "subscribeEvents" => "event", unsubscribe = "unsubscribeEvents", item = Event)]
    async fn subscribe_events(&self) -> SubscriptionResult;
}

/// The socket path: `HPM_SOCKET`, else `hpm/hpmd.sock` in the user runtime
/// dir (`$XDG_RUNTIME_DIR`), else in a per-user folder under the temp dir.
pub fn socket_path() -> PathBuf {
    if let Some(path) = std::env::var_os("HPM_SOCKET") {
        return PathBuf::from(path);
    }
    let base = directories::BaseDirs::new()
        .and_then(|dirs| dirs.runtime_dir().map(|dir| dir.join("hpm")))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hpm-{}", user_id_string())));
    base.join("hpmd.sock")
}

fn user_id_string() -> String {
    std::env::var("USER").unwrap_or_else(|_| "user".to_string())
}
