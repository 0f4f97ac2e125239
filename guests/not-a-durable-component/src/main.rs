//! A plain WASI command: it exports `wasi:cli/run` and nothing of `reprise:durable`, so a Reprise
//! host must refuse to load it as an orchestrator or activity component.

fn main() {
    println!("I am a WASI command, not a durable component.");
}
