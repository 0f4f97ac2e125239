//! Outgoing HTTP for activities: the grants a request must match ([`grants`]), an activity's
//! access (grants, host-set headers, limits: [`access`]), and the `wasi:http` hooks that apply
//! them to each request of an attempt and record it ([`outgoing`]), and the transport that sends
//! it (`send`).
//!
//! Only activities send requests. Orchestrators and entities link `wasi:http` (a component that
//! imports it must load) but their `outgoing-handler` traps; see `linkers`.

pub mod access;
pub mod grants;
pub(crate) mod outgoing;
mod send;

pub use access::{GrantHeader, HttpAccess};
pub use grants::{GrantError, HttpGrant, HttpGrants, HttpTarget};
pub use outgoing::HttpLog;
pub use send::TlsTrust;
