//! Activities that reach for what an activity's sandbox may grant, so that tests can check that
//! each capability works when granted and is refused when not (no seed pattern: the sandbox's
//! own tests).
//!
//! Activities (each fails with `Denied` naming the OS error when the sandbox refuses):
//! - `tcp_exchange({"host", "port", "send"})`: connects over TCP, writes `send` and a newline,
//!   reads one line back and returns it.
//! - `udp_send({"host", "port", "send"})`: sends `send` as one UDP datagram; returns its size.
//! - `read_env(name)`: the environment variable's value, or `null` if it is not set.
//! - `read_file(path)`: the file's contents as text.
//! - `write_stdout(bytes)`: writes `bytes` bytes to stdout in lines of 1 KiB, 64 lines per
//!   write; returns the count.
//!
//! - `spin(ms)`: computes for `ms` milliseconds of wall time, calling nothing; returns the
//!   number of rounds.
//! - `allocate(mib)`: allocates and fills `mib` MiB; returns the count of bytes.
//!
//! Orchestrator `call({"activity", "input"})`: calls the activity and returns its output (or
//! fails with its failure).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, UdpSocket};

use reprise_sdk::{ActivityContext, Context, Failure};
use serde::Deserialize;
use serde_json::Value;

/// Where a socket activity connects, and what it sends.
#[derive(Deserialize)]
struct Peer {
    host: String,
    port: u16,
    send: String,
}

fn denied(what: &str, error: std::io::Error) -> Failure {
    Failure::new("Denied", format!("{what}: {error}"))
}

fn tcp_exchange(_ctx: &ActivityContext, peer: Peer) -> Result<String, Failure> {
    let mut stream = TcpStream::connect((peer.host.as_str(), peer.port)).map_err(|e| denied("connect", e))?;
    stream.write_all(format!("{}\n", peer.send).as_bytes()).map_err(|e| denied("write", e))?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).map_err(|e| denied("read", e))?;
    Ok(reply.trim_end().to_owned())
}

fn udp_send(_ctx: &ActivityContext, peer: Peer) -> Result<usize, Failure> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| denied("bind", e))?;
    socket.send_to(peer.send.as_bytes(), (peer.host.as_str(), peer.port)).map_err(|e| denied("send", e))
}

fn read_env(_ctx: &ActivityContext, name: String) -> Result<Option<String>, Failure> {
    Ok(std::env::var(name).ok())
}

fn read_file(_ctx: &ActivityContext, path: String) -> Result<String, Failure> {
    std::fs::read_to_string(&path).map_err(|e| denied(&format!("read {path}"), e))
}

fn write_stdout(_ctx: &ActivityContext, bytes: u64) -> Result<u64, Failure> {
    let lines = format!("{}\n", "x".repeat(1023)).repeat(64);
    let mut stdout = std::io::stdout().lock();
    let mut written = 0;
    while written < bytes {
        let chunk = (bytes - written).min(lines.len() as u64) as usize;
        stdout.write_all(&lines.as_bytes()[lines.len() - chunk..]).map_err(|e| denied("write stdout", e))?;
        written += chunk as u64;
    }
    Ok(written)
}

fn spin(_ctx: &ActivityContext, ms: u64) -> Result<u64, Failure> {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut rounds = 0u64;
    while std::time::Instant::now() < until {
        rounds = rounds.wrapping_add(1);
    }
    Ok(rounds)
}

fn allocate(_ctx: &ActivityContext, mib: usize) -> Result<usize, Failure> {
    let block = vec![7u8; mib * 1024 * 1024];
    Ok(block.iter().filter(|b| **b == 7).count())
}

/// The input of `call`.
#[derive(Deserialize)]
struct Call {
    activity: String,
    input: Value,
}

fn call(ctx: &Context, call: Call) -> Result<Value, Failure> {
    ctx.call_activity(&call.activity, &call.input).wait()
}

reprise_sdk::export! {
    orchestrators: [call],
    activities: [tcp_exchange, udp_send, read_env, read_file, write_stdout, spin, allocate],
}
