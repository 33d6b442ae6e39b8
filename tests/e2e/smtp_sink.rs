//! A minimal real SMTP server on 127.0.0.1: enough ESMTP for lettre's client
//! without TLS. It keeps every accepted message (un-dot-stuffed) in memory.
//!
//! It runs on a thread and runtime of its own, so it answers whatever the
//! test's runtime is doing.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

#[derive(Default)]
struct State {
    messages: Mutex<Vec<String>>,
    /// While false, `MAIL FROM` answers 451 (a temporary failure).
    accepting: AtomicBool,
    refused: AtomicUsize,
}

pub struct SmtpSink {
    port: u16,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1, accepting mail.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn start() -> Self {
        let state = Arc::new(State {
            accepting: AtomicBool::new(true),
            ..State::default()
        });
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the SMTP sink");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("the SMTP sink binds a port");
                let _ = port_tx.send(listener.local_addr().expect("a local address").port());
                let accept = async {
                    while let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(session(stream, Arc::clone(&shared)));
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the SMTP sink starts");
        Self {
            port,
            state,
            stop: Some(stop),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, raw MIME, oldest first.
    pub fn messages(&self) -> Vec<String> {
        self.state
            .messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// While `false`, every delivery is refused with a temporary failure.
    pub fn set_accepting(&self, accepting: bool) {
        self.state.accepting.store(accepting, Ordering::SeqCst);
    }

    /// How many deliveries were refused so far.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// The first message matching `predicate`, polling until `timeout`.
    pub async fn wait_for(
        &self,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.messages().into_iter().find(|m| predicate(m)) {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One SMTP conversation. Any I/O error just ends it.
async fn session(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.test greets you\r\n250 HELP\r\n",
            "HELO" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            "MAIL" if state.accepting.load(Ordering::SeqCst) => b"250 OK\r\n",
            "MAIL" => {
                state.refused.fetch_add(1, Ordering::SeqCst);
                b"451 4.3.0 try again later\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let message = read_data(&mut lines).await?;
                state
                    .messages
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(message);
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads a DATA section up to the lone `.` line, undoing dot-stuffing.
async fn read_data(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<String> {
    let mut message = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == ".\r\n" || line == ".\n" {
            return Ok(message);
        }
        message.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}
