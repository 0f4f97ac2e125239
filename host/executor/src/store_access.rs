//! Runs the synchronous store's calls on tokio's blocking threads.

use reprise_store::{HistoryStore, StoreResult};
use std::sync::Arc;

/// A shared store whose calls do not block the async workers.
#[derive(Clone)]
pub(crate) struct StoreAccess(pub(crate) Arc<dyn HistoryStore>);

impl StoreAccess {
    /// Runs `call` against the store on a blocking thread.
    pub(crate) async fn call<R, F>(&self, call: F) -> StoreResult<R>
    where
        F: FnOnce(&dyn HistoryStore) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.0.clone();
        match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
            Ok(result) => result,
            // A panic in the store is a bug: let it surface where it was asked for.
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}
