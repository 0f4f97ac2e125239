//! Runs the synchronous store's calls on tokio's blocking threads, and waits for the writes the
//! store answers through a callback without holding a thread. Every answer passes by the
//! store's [`StoreHealth`], which pauses the workers while the store is unavailable.

use crate::store_health::StoreHealth;
use reprise_store::{Done, HistoryStore, StoreError, StoreResult};
use std::sync::Arc;

/// A shared store whose calls do not block the async workers.
#[derive(Clone)]
pub(crate) struct StoreAccess {
    pub(crate) store: Arc<dyn HistoryStore>,
    /// What the answers say of the store's availability.
    pub(crate) health: Arc<StoreHealth>,
}

impl StoreAccess {
    /// Access to `store`.
    pub(crate) fn new(store: Arc<dyn HistoryStore>) -> Self {
        StoreAccess { store, health: Arc::default() }
    }

    /// Runs `call` against the store on a blocking thread.
    pub(crate) async fn call<R, F>(&self, call: F) -> StoreResult<R>
    where
        F: FnOnce(&dyn HistoryStore) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
            Ok(result) => {
                if let Err(error) = &result {
                    self.health.failed(error);
                }
                result
            }
            // A panic in the store is a bug: let it surface where it was asked for.
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }

    /// Submits a write through one of the store's `*_then` methods and waits for its answer:
    /// the hot writes of an episode go this way, so that waiting for the writer thread costs no
    /// blocking thread (and no hand-off to one and back).
    pub(crate) async fn submit<R, F>(&self, submit: F) -> StoreResult<R>
    where
        F: FnOnce(&dyn HistoryStore, Done<R>),
        R: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        submit(
            self.store.as_ref(),
            Box::new(move |result| {
                // The waiter may have been cancelled (an episode abandoned): nothing to do then.
                let _ = answer.send(result);
            }),
        );
        let result = answered.await.unwrap_or(Err(StoreError::Dropped));
        // Only writes are submitted: one that succeeds says the store takes writes again.
        match &result {
            Ok(_) => self.health.wrote(),
            Err(error) => self.health.failed(error),
        }
        result
    }
}
