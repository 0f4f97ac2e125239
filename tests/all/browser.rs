//! A real headless Chromium driven over WebDriver, for the web console's tests (`console.rs`).
//!
//! A [`Browser`] owns one `chromedriver` process (in a process group of its own, with the
//! Chromium it launches) on a free loopback port, and one WebDriver session on it
//! ([`Browser::client`], a fantoccini client). Dropping it kills the whole group, however the
//! test ends; [`Browser::close`] first ends the session cleanly.
//!
//! It never skips: Debian's `chromium` and `chromium-driver` packages are installed with
//! `apt-get` when missing and the tests run as root (once per test process, whichever test gets
//! there first), and a test fails with the command to run when they are missing and it is not
//! root, or when the install fails.

use crate::harness::Killed;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The packages that give `chromium` and `chromedriver` on Debian.
const PACKAGES: [&str; 2] = ["chromium", "chromium-driver"];

/// How long chromedriver may take to answer on its port.
const DRIVER_START: Duration = Duration::from_secs(30);

/// The window every test page is laid out in (the screenshots' size).
const WINDOW: (u32, u32) = (1400, 1000);

/// The browser and its driver, found or installed.
#[derive(Clone, Debug)]
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// A headless Chromium session; see the module docs.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// chromedriver, the leader of its process group (Chromium and its helpers are in it too).
    driver: Killed,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session on it,
    /// installing both first if they are missing (see the module docs).
    pub async fn new() -> Self {
        // The install blocks for minutes at most once; off the runtime's worker threads.
        let tools = tokio::task::spawn_blocking(tools).await.expect("look for chromium");
        let port = free_port();
        let log_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chromedriver-{port}.log"));
        let log = File::create(&log_path).expect("create chromedriver's log");
        let driver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            // Its own group, so that Drop kills the Chromium it starts along with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", tools.chromedriver.display()));
        let mut driver = Killed(driver);
        wait_until_listening(&mut driver, port, &log_path).await;

        let capabilities = json!({
            "browserName": "chrome",
            // A confirm() stays open until the test itself accepts or dismisses it (by default
            // the driver would answer it at the next other command).
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": [
                    "--headless=new",
                    // CI runs as root, where Chromium's sandbox refuses to start.
                    "--no-sandbox",
                    "--disable-gpu",
                    // Containers have a small /dev/shm; Chromium crashes tabs when it fills.
                    "--disable-dev-shm-usage",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                ],
            },
        });
        let capabilities = capabilities.as_object().expect("an object").clone();
        // chromedriver is on loopback: plain HTTP, no TLS.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("open a Chromium session: {e}\nchromedriver's log:\n{}", read_log(&log_path)));
        Browser { client, driver }
    }

    /// Ends the session (chromedriver quits Chromium), then kills chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: Chromium outlives a killed chromedriver otherwise. `Killed` then
        // reaps chromedriver itself.
        let group = rustix::process::Pid::from_child(&self.driver.0);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

/// The browser and driver, installed first if need be; the same answer for every test of the
/// process (a failed install fails them all with its reason, rather than retrying).
fn tools() -> Tools {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    TOOLS.get_or_init(find_or_install).clone().unwrap_or_else(|reason| panic!("{reason}"))
}

fn find_or_install() -> Result<Tools, String> {
    if let Some(tools) = find() {
        return Ok(tools);
    }
    let command = format!("apt-get install -y --no-install-recommends {}", PACKAGES.join(" "));
    if !rustix::process::getuid().is_root() {
        return Err(format!(
            "the console tests need Chromium and chromedriver, which are missing; install them with\n\n    \
             sudo apt-get update && sudo {command}\n"
        ));
    }
    let started = Instant::now();
    // Without package lists (a fresh container) the install fails: update them, then retry.
    if let Err(first) = apt(&["install", "-y", "--no-install-recommends", PACKAGES[0], PACKAGES[1]]) {
        eprintln!("{command} failed, updating the package lists first: {first}");
        apt(&["update"]).map_err(|e| format!("apt-get update failed: {e}"))?;
        apt(&["install", "-y", "--no-install-recommends", PACKAGES[0], PACKAGES[1]])
            .map_err(|e| format!("`{command}` failed: {e}"))?;
    }
    eprintln!("installed {} in {:.1?}", PACKAGES.join(" and "), started.elapsed());
    find().ok_or_else(|| format!("`{command}` succeeded, but chromium or chromedriver is still not on PATH"))
}

/// Runs apt-get without questions; its output on failure.
fn apt(args: &[&str]) -> Result<(), String> {
    let output = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run apt-get: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{}\n{}", output.status, String::from_utf8_lossy(&output.stderr)))
    }
}

/// `chromium` and `chromedriver` on PATH, or where Debian puts them.
fn find() -> Option<Tools> {
    Some(Tools { chromium: executable("chromium")?, chromedriver: executable("chromedriver")? })
}

fn executable(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A loopback port that was free a moment ago (chromedriver binds it itself; if another process
/// took it in between, chromedriver exits and the test says so).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    listener.local_addr().expect("bound address").port()
}

/// Waits (at most [`DRIVER_START`]) until chromedriver accepts connections on `port`; fails at
/// once if it exits.
async fn wait_until_listening(driver: &mut Killed, port: u16, log: &Path) {
    let deadline = Instant::now() + DRIVER_START;
    loop {
        if let Some(status) = driver.0.try_wait().expect("chromedriver's status") {
            panic!("chromedriver exited ({status}) before listening on port {port}:\n{}", read_log(log));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port} within {DRIVER_START:?}:\n{}",
            read_log(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}
