//! The processes and requests of a run: a `reprise serve` child that is SIGKILLed, the
//! `reprise` command for client requests on the database, and an HTTP client for the running
//! host's API. This module only carries requests out and says whether each was acknowledged;
//! it never decides what to send or when.

use super::workload::HostSettings;
use anyhow::{Context as _, bail};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where a run's host finds its files.
#[derive(Debug, Clone)]
pub struct HostFiles {
    /// The `reprise` command.
    pub reprise: PathBuf,
    /// The torture guest component.
    pub component: PathBuf,
    /// The database.
    pub db: PathBuf,
    /// The directory granted to activities as `/log`.
    pub log_dir: PathBuf,
    /// The compiled-component cache, kept across restarts.
    pub compile_cache: PathBuf,
}

/// A running `reprise serve --listen`, killed (SIGKILL) when dropped.
pub struct Serve {
    child: Child,
    /// The base URL of its HTTP API.
    pub base: String,
}

/// How long a host may take to load its component and listen.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

impl Serve {
    /// Starts the host and waits until it listens; its stderr goes to `log`.
    pub fn start(files: &HostFiles, settings: HostSettings, log: &Path) -> anyhow::Result<Serve> {
        let mut command = Command::new(&files.reprise);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--lease", "1s", "--db"])
            .arg(&files.db)
            .arg("--component")
            .arg(&files.component)
            .arg("--activity-dir")
            .arg(format!("{}:/log", files.log_dir.display()))
            .arg("--compile-cache")
            .arg(&files.compile_cache)
            .args(["--cache-size", &settings.cache_size.to_string()])
            .args(["--activity-concurrency", &settings.activity_concurrency.to_string()])
            .args(["--orchestration-concurrency", &settings.orchestration_concurrency.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("cannot run {}", files.reprise.display()))?;
        let stderr = child.stderr.take().context("the host's stderr")?;
        let mut file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let (address, listening) = mpsc::channel();
        // Drains stderr for the child's whole life, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(base) = line.strip_prefix("listening on ") {
                    let _ = address.send(base.to_string());
                }
                let _ = writeln!(file, "{line}");
            }
        });
        let mut serve = Serve { child, base: String::new() };
        match listening.recv_timeout(READY_TIMEOUT) {
            Ok(base) => serve.base = base,
            Err(_) => {
                let status = serve.child.try_wait().ok().flatten();
                bail!(
                    "the host did not listen within {READY_TIMEOUT:?} (exit status {status:?}); see {}",
                    log.display()
                );
            }
        }
        Ok(serve)
    }

    /// SIGKILLs the host and waits for it to be gone.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("SIGKILL the host")?;
        self.child.wait().context("wait for the killed host")?;
        Ok(())
    }

    /// Whether the host has exited on its own (it never should).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Acknowledged: exit 0 (with the id, for a start) or HTTP 202.
    Acked,
    /// Refused because the instance id is taken (an earlier unacknowledged start went through).
    Exists,
    /// Not acknowledged: why.
    NotAcked(String),
}

/// Runs `reprise ARGS --db DB`.
pub fn cli(files: &HostFiles, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new(&files.reprise)
        .args(args)
        .arg("--db")
        .arg(&files.db)
        .output()
        .with_context(|| format!("cannot run {}", files.reprise.display()))
}

/// The answer of a `reprise` command: acknowledged on exit 0 (with `expect` as its whole stdout,
/// if given). A refused start is not told apart from a failed one here: the driver looks the
/// instance up in the database instead of parsing messages meant for people.
pub fn cli_answer(output: &std::process::Output, expect: Option<&str>) -> Answer {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) if expect.is_none_or(|e| stdout.trim() == e) => Answer::Acked,
        Some(0) => Answer::NotAcked(format!("exit 0 but printed '{}'", stdout.trim())),
        _ => Answer::NotAcked(format!("{}: {}", output.status, stderr.trim())),
    }
}

/// A blocking HTTP/1.1 client for the host's API.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<hyper::body::Bytes>,
    >,
}

/// How long one HTTP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

impl Http {
    /// A client with a runtime of its own.
    pub fn new() -> anyhow::Result<Http> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Ok(Http { runtime, client })
    }

    /// POSTs `body` (JSON) to `url`: acknowledged on 202, `Exists` on 409.
    pub fn post(&self, url: &str, body: String) -> Answer {
        let request = match hyper::Request::post(url)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        {
            Ok(request) => request,
            Err(error) => return Answer::NotAcked(format!("bad request to {url}: {error}")),
        };
        let client = self.client.clone();
        let sent =
            self.runtime.block_on(async move { tokio::time::timeout(HTTP_TIMEOUT, client.request(request)).await });
        match sent {
            Ok(Ok(response)) if response.status() == hyper::StatusCode::ACCEPTED => Answer::Acked,
            Ok(Ok(response)) if response.status() == hyper::StatusCode::CONFLICT => Answer::Exists,
            Ok(Ok(response)) => Answer::NotAcked(format!("HTTP {}", response.status())),
            Ok(Err(error)) => Answer::NotAcked(format!("request failed: {error}")),
            Err(_) => Answer::NotAcked(format!("no answer within {HTTP_TIMEOUT:?}")),
        }
    }
}
