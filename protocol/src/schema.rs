//! JSON Schemas (draft 2020-12) of what hpm sends its clients, derived from
//! the very types serde writes, so they cannot drift: the event stream's
//! items and the reports `hpmctl --json` prints and the API answers. They
//! are published in `contrib/schema/` (kept equal to these by
//! `tests/tests/schema.rs`), for editors and scripts to validate against.

use schemars::{schema_for, Schema};

use crate::release::{AbortReport, ApplyReport, ImportReport, NotesReport, PlanReport};
use crate::report::{
    CheckReport, DoctorReport, DryRunReport, ExportReport, ImageReport, RegistryUpdate,
    StatusReport, SyncReport,
};
use crate::{Event, Hello};

/// Each published schema with its file name.
pub fn documents() -> Vec<(&'static str, Schema)> {
    vec![
        ("event.schema.json", schema_for!(Event)),
        ("status.schema.json", schema_for!(StatusReport)),
        ("sync.schema.json", schema_for!(SyncReport)),
        ("check.schema.json", schema_for!(CheckReport)),
        ("dry-run.schema.json", schema_for!(DryRunReport)),
        ("export.schema.json", schema_for!(ExportReport)),
        ("image.schema.json", schema_for!(ImageReport)),
        (
            "registry-update.schema.json",
            schema_for!(Vec<RegistryUpdate>),
        ),
        ("hello.schema.json", schema_for!(Hello)),
        ("doctor.schema.json", schema_for!(DoctorReport)),
        ("client-env.schema.json", schema_for!(crate::ClientEnv)),
        ("import.schema.json", schema_for!(ImportReport)),
        ("release-plan.schema.json", schema_for!(PlanReport)),
        ("release-notes.schema.json", schema_for!(NotesReport)),
        ("release-apply.schema.json", schema_for!(ApplyReport)),
        ("release-abort.schema.json", schema_for!(AbortReport)),
    ]
}
