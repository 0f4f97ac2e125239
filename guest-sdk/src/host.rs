//! The one place the SDK reaches the host: the `orchestration`, `activity-context` and
//! `entity-context` imports of the WIT world. In a component (wasm32) these modules are the
//! imports themselves, at no cost. On any other target (a `cargo test` of a guest crate) they
//! are answered by the host that [`crate::testing`] installs for the thread running the code
//! under test; without one, a call panics saying how to test that code.
//!
//! Nothing else in the SDK may call the bindings' imports directly, or the test harness would
//! not see those calls.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::__private::bindings::reprise::durable::{activity_context, entity_context, orchestration};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::seam::{activity_context, entity_context, orchestration};
