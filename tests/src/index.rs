//! A package index of the tests' own on 127.0.0.1 (PEP 503's simple
//! API, served by Python's `http.server` from a folder), holding wheels
//! built with the real uv: it stands in for PyPI carrying a stranger's
//! project under the name of an internal package (dependency confusion).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::{describe, wait_for};

const SERVER: &str = r#"
import functools, http.server, sys
root, port_file = sys.argv[1], sys.argv[2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

/// A simple index serving the wheels it was given; stopped when dropped.
pub struct Index {
    child: Child,
    port: u16,
}

impl Index {
    /// Serves `simple/<name>/` for the wheels in `wheels` (name, file; a
    /// name may come with several versions), from the folder `dir`.
    pub fn serve(dir: &Path, wheels: &[(&str, PathBuf)]) -> Result<Index> {
        for (name, wheel) in wheels {
            let folder = dir.join("simple").join(name);
            std::fs::create_dir_all(&folder)?;
            let file = wheel.file_name().context("a wheel's file name")?;
            std::fs::copy(wheel, folder.join(file))?;
            let mut links = String::new();
            for entry in std::fs::read_dir(&folder)? {
                let file = entry?.file_name().to_string_lossy().into_owned();
                if file.ends_with(".whl") {
                    links.push_str(&format!("<a href=\"{file}\">{file}</a>\n"));
                }
            }
            std::fs::write(
                folder.join("index.html"),
                format!("<!DOCTYPE html><html><body>\n{links}</body></html>\n"),
            )?;
        }
        let port_file = dir.join("port");
        let child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(dir)
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting python3 for the package index")?;
        let mut index = Index { child, port: 0 };
        wait_for("the package index's port", || port_file.is_file())?;
        index.port = std::fs::read_to_string(&port_file)?.trim().parse()?;
        Ok(index)
    }

    /// The index's simple API, for `UV_INDEX`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A wheel of a project `name` at `version` whose module says who made it
/// (`MADE_BY = "stranger"`), built with the real uv in `dir`.
pub fn stranger_wheel(dir: &Path, name: &str, version: &str) -> Result<PathBuf> {
    let project = dir.join(format!("{name}-{version}"));
    let module = crate::module_name(name);
    std::fs::create_dir_all(project.join(&module))?;
    std::fs::write(
        project.join(&module).join("__init__.py"),
        "MADE_BY = \"stranger\"\n",
    )?;
    std::fs::write(
        project.join("pyproject.toml"),
        format!(
            "[project]\nname = \"{name}\"\nversion = \"{version}\"\nrequires-python = \">=3.8\"\n\n\
             [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n"
        ),
    )?;
    let uv = hpm_engine::uv::Uv::find()?;
    let out = project.join("dist");
    let output = Command::new(&uv.path)
        .current_dir(&project)
        .args(["build", "--wheel", "--out-dir"])
        .arg(&out)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .output()?;
    anyhow::ensure!(output.status.success(), "uv build: {}", describe(&output));
    std::fs::read_dir(&out)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .context("uv build made no wheel")
}
