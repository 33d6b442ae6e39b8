//! Programs the tests run beside the server (the seeds' clients, the event
//! receivers' reference libraries, API fuzzers). They are installed by
//! `make tools` into `target/tools/` — a venv from `tests/tools/requirements.txt`
//! — never by a test. A missing tool skips its check with a notice on a
//! developer's machine and fails the run in CI (`CI` set, as `.ci/run` does).

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Reports a missing tool: a panic in CI, a skip notice elsewhere.
pub fn missing(tool: &str) -> Option<PathBuf> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is missing in CI: run `make tools` first"
    );
    eprintln!("SKIPPED: {tool} is missing (run `make tools`)");
    None
}

/// The tools venv's Python, with every package of `tests/tools/requirements.txt`.
pub fn python() -> Option<PathBuf> {
    let python = repo("target/tools/venv/bin/python");
    if python.is_file() {
        Some(python)
    } else {
        missing("target/tools/venv (tests/tools/requirements.txt)")
    }
}

/// A program of the venv (`schemathesis`'s `st`, say).
pub fn venv_bin(name: &str) -> Option<PathBuf> {
    let bin = repo("target/tools/venv/bin").join(name);
    if bin.is_file() {
        Some(bin)
    } else {
        missing(&format!("target/tools/venv/bin/{name}"))
    }
}

/// A program on `PATH` that answers `program <version_arg>`.
pub fn system(program: &str, version_arg: &str) -> Option<PathBuf> {
    let found = Command::new(program)
        .arg(version_arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        Some(PathBuf::from(program))
    } else {
        missing(program)
    }
}

/// Node, for seed 000's JavaScript and the Node client.
pub fn node() -> Option<PathBuf> {
    system("node", "--version")
}
