//! The real server binary as a child process: its own SQLite file and outbox
//! folder in a temp dir, a free port, logs captured for assertions.
//!
//! Also compiled into the benchmark (`tests/bench`), which passes the release
//! binary to [`ServerProcess::try_start_binary`].

use std::{
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// How long the server may take to answer `GET /_ping` (migrations included)
/// on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables passed through from the parent; everything else is
/// cleared so a developer's `DATABASE_URL`, `SMTP_HOST` or `LOCO_ENV` cannot
/// leak into the server under test.
const INHERITED: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "RUST_BACKTRACE"];

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("order_fellow_e2e_{tag}"));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running server. Killed (SIGKILL) on drop, temp dir removed.
pub struct ServerProcess {
    binary: PathBuf,
    workdir: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    child: Option<Child>,
    /// stdout and stderr, kept apart so a line is never split by the other.
    logs: [Arc<Mutex<Vec<u8>>>; 2],
    http: reqwest::Client,
    // Last, so the child is gone before its files are removed.
    dir: TempDir,
}

impl ServerProcess {
    /// Starts the binary cargo built for this test crate in the development
    /// environment; `env` adds to or overrides the defaults (`LOG_LEVEL=warn`,
    /// a fresh `DATABASE_URL`, `OUTBOX_DIR`, `PORT`, …).
    ///
    /// # Panics
    /// When the server exits or does not answer `/_ping` within 60 s; the
    /// message carries its output.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        // `option_env!`: this file is also compiled into the benchmark, where
        // cargo does not set the variable (and `start` is never called).
        let Some(binary) = option_env!("CARGO_BIN_EXE_order_fellow-cli") else {
            panic!("only the integration tests know the server binary");
        };
        Self::try_start_binary(
            Path::new(binary),
            Path::new(env!("CARGO_MANIFEST_DIR")),
            env,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `binary` with `workdir` as its current directory (where
    /// `config/` lives).
    ///
    /// # Errors
    /// When the process cannot be spawned, exits early or does not answer
    /// `/_ping` in time; the error carries its output.
    pub async fn try_start_binary(
        binary: &Path,
        workdir: &Path,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let dir = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let mut vars: Vec<(String, String)> = vec![
            ("LOCO_ENV".into(), "development".into()),
            ("LOG_LEVEL".into(), "warn".into()),
            (
                "DATABASE_URL".into(),
                format!("sqlite://{}?mode=rwc", dir.0.join("e2e.sqlite").display()),
            ),
            (
                "OUTBOX_DIR".into(),
                dir.0.join("outbox").display().to_string(),
            ),
            ("PORT".into(), port.to_string()),
            ("BINDING".into(), "127.0.0.1".into()),
        ];
        for (key, value) in env {
            match vars.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = (*value).to_string(),
                None => vars.push(((*key).to_string(), (*value).to_string())),
            }
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        let mut server = Self {
            binary: binary.to_path_buf(),
            workdir: workdir.to_path_buf(),
            env: vars,
            port,
            child: None,
            logs: Default::default(),
            http,
            dir,
        };
        server.spawn_and_wait().await?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The folder the server writes `.eml` files to when no SMTP host is set.
    pub fn outbox_dir(&self) -> PathBuf {
        self.dir.0.join("outbox")
    }

    /// The OS process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the server printed so far, across restarts: its stdout,
    /// then its stderr.
    pub fn output(&self) -> String {
        self.logs
            .iter()
            .map(|log| {
                let bytes = log.lock().unwrap_or_else(|p| p.into_inner());
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the server with SIGKILL: no graceful shutdown, no flush.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again with the same environment, port and database
    /// file (killing it first if it still runs).
    ///
    /// # Panics
    /// As [`ServerProcess::start`].
    pub async fn restart(&mut self) {
        self.kill_9();
        self.spawn_and_wait()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs an operator task (`<binary> task <name> <params>`) against the
    /// same database, with the server's environment.
    ///
    /// # Errors
    /// When the task cannot run or exits non-zero; the error carries its output.
    pub async fn run_task(&self, name: &str, params: &[&str]) -> Result<(), String> {
        let out = tokio::process::Command::new(&self.binary)
            .arg("task")
            .arg(name)
            .args(params)
            .args(["--environment", "development"])
            .env_clear()
            .envs(inherited())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.workdir)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("task {name}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "task {name} exited with {}:\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let mut child = Command::new(&self.binary)
            .args(["start", "--environment", "development"])
            .env_clear()
            .envs(inherited())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        let pipes = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for (pipe, log) in pipes.into_iter().zip(&self.logs) {
            if let Some(pipe) = pipe {
                let log = Arc::clone(log);
                std::thread::spawn(move || drain(pipe, &log));
            }
        }
        self.child = Some(child);

        let ping = format!("{}/_ping", self.base_url());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    // Let the reader threads catch the last lines.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return Err(format!(
                        "the server exited with {status} before answering /_ping; its output:\n{}",
                        self.output()
                    ));
                }
            }
            if let Ok(res) = self.http.get(&ping).send().await {
                if res.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                self.kill_9();
                return Err(format!(
                    "the server did not answer {ping} within {}s; its output:\n{}",
                    START_TIMEOUT.as_secs(),
                    self.output()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

fn inherited() -> impl Iterator<Item = (String, String)> {
    INHERITED
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_string(), v)))
}

/// A port nobody listens on right now (the OS picks it).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn drain(mut pipe: Box<dyn Read + Send>, logs: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        logs.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(&buf[..n]);
    }
}
