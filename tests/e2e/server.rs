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
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex, OnceLock,
    },
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
        server.spawn_on_a_free_port().await?;
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

    /// Sends SIGTERM (a graceful shutdown), leaving the process to exit.
    pub fn terminate(&self) {
        if let Some(pid) = self.pid().and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: a signal to our own child process.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// Waits up to `timeout` for the process to exit; its exit status, or
    /// `None` if it still runs (or was never started).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.child.as_mut()?.try_wait().ok().flatten();
            if let Some(status) = status {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the server again with the same environment, port and database
    /// file (killing it first if it still runs).
    ///
    /// # Panics
    /// As [`ServerProcess::start`].
    pub async fn restart(&mut self) {
        self.kill_9();
        self.spawn_on_a_free_port()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs an operator task (`<binary> task <name> <params>`) against the
    /// same database, with the server's environment; answers what it printed.
    ///
    /// # Errors
    /// When the task cannot run or exits non-zero; the error carries its output.
    pub async fn run_task(&self, name: &str, params: &[&str]) -> Result<String, String> {
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
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "task {name} exited with {}:\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Starts the server on its current port, or on a new one when something
    /// else took that port in the meantime (the base URL changes then).
    async fn spawn_on_a_free_port(&mut self) -> Result<(), String> {
        let mut attempts = 0;
        loop {
            match self.spawn_and_wait().await {
                Err(Start::PortTaken) if attempts < 3 => {
                    attempts += 1;
                    self.port = free_port().map_err(|e| format!("free port: {e}"))?;
                    self.set_env("PORT", &self.port.to_string());
                }
                Err(Start::PortTaken) => {
                    return Err(format!(
                        "no free port after {attempts} attempts; server output:\n{}",
                        self.output()
                    ))
                }
                Err(Start::Failed(e)) => return Err(e),
                Ok(()) => return Ok(()),
            }
        }
    }

    /// Sets (or, with an empty value, blanks) a variable for the next
    /// restart and the tasks run from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.env.push((key.to_string(), value.to_string())),
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), Start> {
        // Output accumulates across restarts: only a new bind failure counts.
        let bind_failures = self.output().matches("AddrInUse").count();
        let mut command = Command::new(&self.binary);
        die_with_parent(&mut command);
        let mut child = command
            .args(["start", "--environment", "development"])
            .env_clear()
            .envs(inherited())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Start::Failed(format!("cannot start {}: {e}", self.binary.display())))?;
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
                    if self.output().matches("AddrInUse").count() > bind_failures {
                        return Err(Start::PortTaken);
                    }
                    return Err(Start::Failed(format!(
                        "the server exited with {status} before answering /_ping; its output:\n{}",
                        self.output()
                    )));
                }
            }
            if let Ok(res) = self.http.get(&ping).send().await {
                if res.status().is_success() && self.owns_port() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                self.kill_9();
                return Err(Start::Failed(format!(
                    "the server did not answer {ping} within {}s; its output:\n{}",
                    START_TIMEOUT.as_secs(),
                    self.output()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    /// Whether the socket listening on our port is this child's (not another
    /// process that took the port first). Where `/proc` cannot tell, trusts
    /// the answer.
    fn owns_port(&self) -> bool {
        let Some(pid) = self.pid() else {
            return false;
        };
        let Some(inode) = listening_inode(self.port) else {
            return true;
        };
        let needle = format!("socket:[{inode}]");
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(true, |fds| {
            fds.filter_map(Result::ok)
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .any(|target| target.to_string_lossy() == needle)
        })
    }
}

/// Why a start failed.
enum Start {
    /// Another process listens on the port: try another one.
    PortTaken,
    Failed(String),
}

/// The inode of the IPv4 socket listening on `port`, from `/proc/net/tcp`.
fn listening_inode(port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!(":{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // local_address, rem_address, st (0A = LISTEN), …, inode
        (cols.len() > 9 && cols[1].ends_with(&local) && cols[3] == "0A")
            .then(|| cols[9].to_string())
    })
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Linux: the server gets SIGKILL when the thread that started it ends, so
/// even a test binary killed by a timeout leaves no server behind (`Drop`
/// covers every other exit).
#[cfg(target_os = "linux")]
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: `prctl` is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
pub fn die_with_parent(_command: &mut Command) {}

fn inherited() -> impl Iterator<Item = (String, String)> {
    INHERITED
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_string(), v)))
}

/// A port nobody listens on right now. Taken below the OS's ephemeral range
/// when it can be read, so that neither `bind(:0)` nor an outgoing connection
/// of a concurrent test can be handed the same port before the server binds
/// it; a per-process counter from a random start keeps our own servers apart.
pub fn free_port() -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static START: OnceLock<u32> = OnceLock::new();
    const LOWEST: u32 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|&low| low > LOWEST + 1_000 && low <= u32::from(u16::MAX));
    if let Some(low) = ephemeral_low {
        let span = low - LOWEST;
        let start = *START.get_or_init(|| uuid::Uuid::new_v4().as_u128() as u32 % span);
        for _ in 0..500 {
            let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
            let Ok(port) = u16::try_from(LOWEST + offset) else {
                continue;
            };
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_differ_and_avoid_the_ephemeral_range() {
        let (a, b) = (free_port().unwrap(), free_port().unwrap());
        assert_ne!(a, b);
        if let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") {
            let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
            assert!(a < low && b < low, "{a}, {b} should be below {low}");
        }
    }

    #[test]
    fn the_listening_socket_of_a_port_is_found_among_its_owners_fds() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let Some(inode) = listening_inode(port) else {
            return; // no /proc here: `owns_port` trusts the answer
        };
        let needle = format!("socket:[{inode}]");
        let ours = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|target| target.to_string_lossy() == needle);
        assert!(ours);
    }
}
