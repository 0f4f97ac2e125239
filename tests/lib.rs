//! End-to-end tests of Reprise: real guest components, run by the real executor on a real SQLite
//! file. The tests live in `tests/all/`; this library gives them the guest components and the
//! fault suite ([`torture`]), which the `torture` binary also runs.

/// The example guest components, built from `guests/` for wasm32-wasip2 by this package's build
/// script: one constant per guest crate (`ORDER_PROCESSING`, `VERSIONED_V1`,
/// `NOT_A_DURABLE_COMPONENT`...) holding the absolute path of its `.wasm` file, and `ALL`, every
/// crate name with its path.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

pub mod torture;
