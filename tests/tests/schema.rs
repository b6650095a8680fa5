//! The published JSON Schemas (`contrib/schema/`) are the ones the protocol
//! types derive (`HPM_UPDATE_SCHEMA=1` rewrites them), and what the real
//! hpmctl and hpmd print validates against them: the reports of status,
//! sync, a dry run, check, and every event of a switch and of a broken
//! manifest.

use std::path::{Path, PathBuf};

use hpm_tests::{stdout, EventStream, World};
use serde_json::Value;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/schema")
}

#[test]
fn the_published_schemas_are_the_ones_the_types_derive() -> anyhow::Result<()> {
    let update = std::env::var_os("HPM_UPDATE_SCHEMA").is_some();
    for (name, schema) in hpm_protocol::schema::documents() {
        let text = format!("{}\n", serde_json::to_string_pretty(&schema)?);
        let path = schema_dir().join(name);
        if update {
            std::fs::create_dir_all(schema_dir())?;
            std::fs::write(&path, &text)?;
            continue;
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == text,
            "{} differs from what the protocol types derive: run `HPM_UPDATE_SCHEMA=1 cargo test -p hpm-tests --test schema` and commit it",
            path.display()
        );
    }
    Ok(())
}

/// The published schema `name`, compiled.
fn validator(name: &str) -> anyhow::Result<jsonschema::Validator> {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(schema_dir().join(name))?)?;
    jsonschema::validator_for(&schema).map_err(|error| anyhow::anyhow!("{name}: {error}"))
}

fn assert_valid(validator: &jsonschema::Validator, name: &str, value: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|error| format!("{} at {}", error, error.instance_path))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{value:#}");
}

fn json(output: &std::process::Output) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&stdout(output))?)
}

#[test]
fn what_hpm_prints_validates_against_the_published_schemas() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.ok(&["sync"])?;
    let events = EventStream::follow(&world)?;
    let mark = events.len();

    let sync = validator("sync.schema.json")?;
    assert_valid(
        &sync,
        "switch prod",
        &json(&world.ok(&["switch", "prod", "--json"])?)?,
    );
    assert_valid(&sync, "no-op sync", &json(&world.ok(&["sync", "--json"])?)?);
    let status = validator("status.schema.json")?;
    assert_valid(&status, "status", &json(&world.ok(&["status", "--json"])?)?);
    assert_valid(
        &validator("dry-run.schema.json")?,
        "dry run",
        &json(&world.ok(&["switch", "dev", "--dry-run", "--json"])?)?,
    );
    assert_valid(
        &validator("check.schema.json")?,
        "check",
        &json(&world.ok(&["check", "--json"])?)?,
    );
    let daemon = json(&world.ok(&["daemon", "status", "--json"])?)?;
    assert_valid(&validator("hello.schema.json")?, "hello", &daemon["hello"]);

    // A broken manifest and its repair, seen by the watcher.
    let manifest = world.read("hpm.yaml")?;
    world.write_manifest(&format!("{manifest}bogus_key: 1\n"))?;
    events.wait(mark, "manifest_invalid", |event| {
        event["event"] == "manifest_invalid"
    })?;
    world.write_manifest(&manifest)?;
    events.wait(mark, "manifest_valid", |event| {
        event["event"] == "manifest_valid"
    })?;

    let event = validator("event.schema.json")?;
    // The schema does say no: an unknown event, or one without its fields.
    let workspace = world.core().display().to_string();
    for wrong in [
        serde_json::json!({"seq": 1, "workspace": workspace, "event": "no_such_event"}),
        serde_json::json!({"seq": 1, "workspace": workspace, "event": "job_finished"}),
        serde_json::json!({"workspace": workspace, "event": "status_changed"}),
    ] {
        assert!(!event.is_valid(&wrong), "{wrong} passed the event schema");
    }
    let seen = events.since(mark);
    for name in [
        "job_started",
        "progress",
        "job_finished",
        "status_changed",
        "manifest_invalid",
    ] {
        assert!(
            seen.iter().any(|e| e["event"] == name),
            "no {name} among {seen:#?}"
        );
    }
    for item in &seen {
        assert_valid(&event, "event", item);
    }
    let _ = world.run(&["daemon", "stop"]);
    Ok(())
}

/// The reports of `release` (plan, notes, a dry run, a run, status,
/// abort) and of `import` (a dry run and a run) validate against their
/// published schemas, and so does every event a release streams.
#[test]
fn release_and_import_reports_validate_against_their_schemas() -> anyhow::Result<()> {
    use hpm_tests::release::{ReleaseWorld, GITHUB};
    let fixture = ReleaseWorld::new(&[("alpha", &[]), ("beta", &["alpha"])], GITHUB)?;
    let plan = json(&fixture.ok(&["--json", "release", "plan", "alpha", "--mode", "staging"])?)?;
    assert_valid(
        &validator("release-plan.schema.json")?,
        "release plan",
        &plan,
    );
    let id = plan["id"].as_str().unwrap_or_default().to_string();
    let notes = json(&fixture.ok(&["--json", "release", "notes", &id])?)?;
    assert_valid(
        &validator("release-notes.schema.json")?,
        "release notes",
        &notes,
    );
    let apply = validator("release-apply.schema.json")?;
    let (_, dry) = fixture.apply(&id, true)?;
    assert_valid(&apply, "release apply --dry-run", &dry);
    let (_, done) = fixture.apply(&id, false)?;
    assert_eq!(done["outcome"], "complete", "{done}");
    assert_valid(&apply, "release apply", &done);
    let status = json(&fixture.ok(&["--json", "release", "status", &id])?)?;
    assert_valid(&apply, "release status", &status);
    // The outcome and each step's state are closed lists.
    for wrong in [
        serde_json::json!({"id": id, "outcome": "finished", "steps": []}),
        serde_json::json!({"id": id, "outcome": "complete", "steps": [{"step": "alpha:tag", "state": "half"}]}),
    ] {
        assert!(!apply.is_valid(&wrong), "{wrong} passed the apply schema");
    }
    // An abort of a second release, left partly done: the tag is local.
    let second = fixture.plan(&["beta", "--mode", "staging"])?;
    let crashed = fixture
        .hpmctl(&["release", "apply", &second, "--yes", "--notes", "auto"])
        .env(hpm_engine::ops::release::CRASH_AFTER, "beta:tag")
        .output()?;
    assert!(
        crashed.status.code().is_none(),
        "{}",
        hpm_tests::describe(&crashed)
    );
    let abort = json(&fixture.ok(&["--json", "release", "abort", &second])?)?;
    assert_valid(
        &validator("release-abort.schema.json")?,
        "release abort",
        &abort,
    );
    assert!(
        abort["undone"]
            .as_array()
            .is_some_and(|undone| !undone.is_empty()),
        "{abort}"
    );

    let world = hpm_tests::submodules::product()?;
    let import = validator("import.schema.json")?;
    let dry = json(&world.ok(&["--no-daemon", "--json", "import", "--dry-run"])?)?;
    assert_valid(&import, "import --dry-run", &dry);
    let imported = json(&world.ok(&["--no-daemon", "--json", "import", "--detach-submodules"])?)?;
    assert!(imported["synced"].is_object(), "{imported}");
    assert_valid(&import, "import", &imported);
    Ok(())
}
