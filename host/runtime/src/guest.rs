//! The one guest runner, for every kind of guest: a store with the guest's limits (memory, and
//! CPU by epochs: an episode's budget, an operation's budget or an attempt's timeout), the
//! instance from the component's pre-instantiation for that kind (a component that does not
//! export the kind is refused), the call, and the classification of how it ended, in words a
//! user can act on. Then the three ways in: [`Runtime::run_orchestrator`],
//! [`Runtime::run_activity`] and [`Runtime::run_entity_operation`].
//!
//! It owns stores, limits and classification. It never decides what a guest's calls mean (the
//! host interfaces' contexts answer them) nor what an outcome does.

use crate::Runtime;
use crate::activity::{ActivityGrants, ActivityInvocation, activity_wasi};
use crate::component::LoadedComponent;
use crate::entity::{OperationContext, OperationInvocation, OperationOutcome};
use crate::error::{GuestError, StopCause, classify};
use crate::http::HttpLog;
use crate::http::outgoing::ActivityHttp;
use crate::observed::GuestObserved;
use crate::orchestration::OrchestrationSession;
use crate::state::{Deadline, GuestState, store};
use crate::virtual_wasi::deterministic_wasi;
use reprise_core::{Failure, HttpExchange};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Store;

/// One orchestrator run to start.
pub struct OrchestratorInvocation {
    /// The instance id (for logs).
    pub instance_id: String,
    /// The orchestrator to run.
    pub name: String,
    /// Its JSON input.
    pub input: String,
    /// The seed of the guest's random sources: the same for every run of one execution.
    pub seed: u64,
    /// State shared with the caller.
    pub observed: Arc<GuestObserved>,
}

/// An update to validate (see [`Runtime::validate_update`]).
#[derive(Debug, Clone, Copy)]
pub struct UpdateCheck<'a> {
    /// The orchestrator of the instance it is sent to.
    pub orchestrator: &'a str,
    /// The update's name.
    pub update: &'a str,
    /// Its JSON input.
    pub input: &'a str,
    /// The instance's custom status.
    pub custom_status: Option<&'a str>,
    /// The time the validator's clocks read.
    pub now_ms: u64,
}

/// How an activity attempt ended, and what it asked of the network.
#[derive(Debug)]
pub struct ActivityRun {
    /// Its output or failure, or how the guest was stopped.
    pub outcome: Result<Result<String, Failure>, GuestError>,
    /// Its HTTP requests, in order.
    pub http: Vec<HttpExchange>,
}

/// What a run is, for its messages.
struct Run<'a> {
    /// The guest, as messages name it ("orchestrator 'x'").
    what: String,
    /// Its memory limit, in bytes.
    memory: usize,
    /// The CPU limit, as messages state it.
    cpu: String,
    /// The wall-clock timeout of the call, if any.
    timeout: Option<Duration>,
    observed: &'a GuestObserved,
}

impl Runtime {
    /// Instantiates a guest from `pre` (`None`: the component does not export its kind, which
    /// `exports` names) and calls it: its result and its store, or how it was stopped.
    async fn run_guest<K, P, I, R>(
        &self,
        component: &LoadedComponent,
        (pre, exports): (Option<&P>, &str),
        mut store: Store<GuestState<K>>,
        run: Run<'_>,
        instantiate: impl AsyncFnOnce(&P, &mut Store<GuestState<K>>) -> wasmtime::Result<I>,
        call: impl AsyncFnOnce(I, &mut Store<GuestState<K>>) -> wasmtime::Result<R>,
    ) -> Result<(R, Store<GuestState<K>>), GuestError>
    where
        K: Send + 'static,
    {
        let Some(pre) = pre else {
            return Err(GuestError::NoSuchFunction(format!(
                "component {} ({}) exports no {exports}",
                component.hash, component.source
            )));
        };
        let memory = format!("{} MiB", run.memory / (1024 * 1024));
        let instance = match instantiate(pre, &mut store).await {
            Ok(instance) => instance,
            // The guest asked for more memory than it may have: its own doing.
            Err(e) if store.data().limiter.memory_exceeded => {
                return Err(GuestError::MemoryLimit(format!(
                    "{} needs more memory than the limit of {memory} to start: {e:#}",
                    run.what
                )));
            }
            // The host could not make room (a full instance pool, no memory): not the guest's
            // fault, and worth trying again once some is freed.
            Err(e) => return Err(GuestError::Instantiate(format!("instantiating {}: {e:#}", run.what))),
        };
        // Epochs stop wasm code that runs past a timeout; the wall-clock timeout stops a guest
        // that waits past it inside a host call (a sleep, a socket), which epochs cannot reach.
        // Dropping the call drops the guest with it.
        let result = match run.timeout {
            Some(limit) => match tokio::time::timeout(limit, call(instance, &mut store)).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(GuestError::Timeout(format!(
                        "{} ran past its timeout of {limit:?} and was stopped",
                        run.what
                    )));
                }
            },
            None => call(instance, &mut store).await,
        };
        match result {
            Ok(value) => Ok((value, store)),
            Err(error) => {
                let state = store.data();
                let (cause, detail) = if state.limiter.memory_exceeded {
                    (StopCause::Memory, memory)
                } else if state.cpu_exceeded {
                    (StopCause::Cpu, run.cpu)
                } else if state.timed_out {
                    (StopCause::Timeout, format!("{:?}", run.timeout.unwrap_or_default()))
                } else {
                    (StopCause::Other, String::new())
                };
                Err(classify(error, cause, &run.what, &detail, &run.observed.stderr_tail()))
            }
        }
    }

    /// Runs an orchestrator to its end, its calls answered by `session`: its output or failure,
    /// or how the guest was stopped.
    pub async fn run_orchestrator(
        &self,
        component: &LoadedComponent,
        invocation: OrchestratorInvocation,
        session: OrchestrationSession,
    ) -> Result<Result<String, Failure>, GuestError> {
        let OrchestratorInvocation { instance_id, name, input, seed, observed } = invocation;
        observed.limit_output(self.config.max_guest_output_bytes);
        let wasi = deterministic_wasi(&format!("{name}:{instance_id}"), seed, &observed);
        let state = GuestState::new(wasi, self.config.max_memory_bytes, session);
        let budget = self.ticks(self.config.orchestrator_episode_cpu);
        let store = store(&self.orchestrator_engine, state, Deadline::Episode(budget, observed.clone()));
        let run = Run {
            what: format!("orchestrator '{name}'"),
            memory: self.config.max_memory_bytes,
            cpu: format!("{:?}", self.config.orchestrator_episode_cpu),
            timeout: None,
            observed: &observed,
        };
        let (outcome, _) = self
            .run_guest(
                component,
                (component.orchestrator_pre.as_ref(), "orchestrators"),
                store,
                run,
                async |pre, store| pre.instantiate_async(store).await,
                async |instance, store| instance.reprise_durable_orchestrators().call_run(store, &name, &input).await,
            )
            .await?;
        Ok(outcome.map_err(Failure::from))
    }

    /// Runs one activity attempt: its output or failure, or how the guest was stopped, and the
    /// HTTP requests it made.
    pub async fn run_activity(
        &self,
        component: &LoadedComponent,
        invocation: ActivityInvocation,
        grants: &ActivityGrants,
    ) -> ActivityRun {
        let log = Arc::new(HttpLog::default());
        let outcome = self.run_activity_logged(component, invocation, grants, &log).await;
        // A request that was refused or timed out is why the attempt failed, in all likelihood:
        // the failure says so, and a retry policy can name it.
        let outcome = match outcome {
            Ok(Err(failure)) => Ok(Err(log.failure(failure))),
            outcome => outcome,
        };
        ActivityRun { outcome, http: log.exchanges() }
    }

    async fn run_activity_logged(
        &self,
        component: &LoadedComponent,
        invocation: ActivityInvocation,
        grants: &ActivityGrants,
        log: &Arc<HttpLog>,
    ) -> Result<Result<String, Failure>, GuestError> {
        let observed = GuestObserved::new();
        observed.limit_output(self.config.max_guest_output_bytes);
        observed.start_episode(0, false);
        let what = format!("activity '{}'", invocation.name);
        let wasi = activity_wasi(&invocation, grants, &observed)
            .map_err(|e| GuestError::Sandbox(format!("preparing the sandbox of {what}: {e:#}")))?;
        let timeout = invocation.timeout;
        let (name, input) = (invocation.name.clone(), invocation.input.clone());
        let http = ActivityHttp::new(&invocation.name, grants.http.clone(), log.clone())
            .with_traceparent(invocation.traceparent.as_deref());
        let memory =
            grants.limits.memory_bytes.map_or(self.config.max_memory_bytes, |m| m.min(self.config.max_memory_bytes));
        let state = GuestState::new(wasi, memory, invocation).with_http(http);
        // A CPU budget stops the attempt's own computing; the wall-clock timeout below still
        // stops it waiting.
        let (deadline, cpu) = match grants.limits.cpu {
            Some(cpu) => (Deadline::Call(self.ticks(cpu)), format!("{cpu:?}")),
            None => (Deadline::Timeout(timeout.map(|t| self.ticks(t))), String::new()),
        };
        let store = store(&self.activity_engine, state, deadline);
        let run = Run { what, memory, cpu, timeout, observed: &observed };
        let (outcome, _) = self
            .run_guest(
                component,
                (component.activity_pre.as_ref(), "activities"),
                store,
                run,
                async |pre, store| pre.instantiate_async(store).await,
                async |instance, store| instance.reprise_durable_activities().call_run(store, &name, &input).await,
            )
            .await?;
        Ok(outcome.map_err(Failure::from))
    }

    /// Runs one operation on a fresh instance: its outcome (with the effects it asked for) or
    /// its failure, or how the guest was stopped (then the operation failed, and the state is
    /// unchanged).
    pub async fn run_entity_operation(
        &self,
        component: &LoadedComponent,
        invocation: OperationInvocation,
    ) -> Result<Result<OperationOutcome, Failure>, GuestError> {
        let observed = GuestObserved::new();
        observed.limit_output(self.config.max_guest_output_bytes);
        observed.start_episode(invocation.now_ms, false);
        let label = format!("{}:{}", invocation.entity, invocation.operation);
        let wasi = deterministic_wasi(&label, invocation.seed, &observed);
        let state = GuestState::new(wasi, self.config.max_memory_bytes, OperationContext::new(&invocation));
        // An operation gets the CPU budget of an orchestrator's episode.
        let budget = self.ticks(self.config.orchestrator_episode_cpu);
        let store = store(&self.orchestrator_engine, state, Deadline::Call(budget));
        let run = Run {
            what: format!("operation '{}' on entity {}", invocation.operation, invocation.entity),
            memory: self.config.max_memory_bytes,
            cpu: format!("{:?}", self.config.orchestrator_episode_cpu),
            timeout: None,
            observed: &observed,
        };
        let OperationInvocation { entity, operation, input, state, .. } = invocation;
        let (outcome, store) = self
            .run_guest(
                component,
                (component.entity_pre.as_ref(), "entities"),
                store,
                run,
                async |pre, store| pre.instantiate_async(store).await,
                async |instance, store| {
                    let entities = instance.reprise_durable_entities();
                    entities.call_run(store, &entity.name, &operation, &input, state.as_ref()).await
                },
            )
            .await?;
        let effects = store.into_data().kind;
        Ok(outcome.map_err(Failure::from).map(|result| OperationOutcome {
            state: result.state,
            output: result.output,
            outgoing: effects.outgoing,
            new_instances: effects.new_instances,
        }))
    }

    /// Asks `component`'s update validators (in a fresh instance, in the deterministic sandbox
    /// with every host interface trapping) whether the instance accepts an update: `Ok(())`, or
    /// the failure that refuses it. A component that exports no validators accepts every
    /// update. A validator that traps, or runs past an episode's CPU budget, refuses it with the
    /// reason (as a failure of type `GuestTrapped`, or the guest error's own).
    pub async fn validate_update(
        &self,
        component: &LoadedComponent,
        check: UpdateCheck<'_>,
    ) -> Result<Result<(), Failure>, GuestError> {
        let Some(pre) = component.update_validator_pre.as_ref() else {
            return Ok(Ok(()));
        };
        let observed = GuestObserved::new();
        observed.limit_output(self.config.max_guest_output_bytes);
        observed.start_episode(check.now_ms, false);
        let label = format!("{}:{}", check.orchestrator, check.update);
        let wasi = deterministic_wasi(&label, 0, &observed);
        let state = GuestState::new(wasi, self.config.max_memory_bytes, ());
        let budget = self.ticks(self.config.orchestrator_episode_cpu);
        let store = store(&self.orchestrator_engine, state, Deadline::Call(budget));
        let run = Run {
            what: format!("the validator of update '{}' of orchestrator '{}'", check.update, check.orchestrator),
            memory: self.config.max_memory_bytes,
            cpu: format!("{:?}", self.config.orchestrator_episode_cpu),
            timeout: None,
            observed: &observed,
        };
        let (outcome, _) = self
            .run_guest(
                component,
                (Some(pre), "update-validators"),
                store,
                run,
                async |pre, store| pre.instantiate_async(store).await,
                async |instance, store| {
                    // Payloads are `String`s in the bindings.
                    let (input, custom_status) = (check.input.to_string(), check.custom_status.map(str::to_string));
                    instance
                        .reprise_durable_update_validators()
                        .call_validate(store, check.orchestrator, check.update, &input, custom_status.as_ref())
                        .await
                },
            )
            .await?;
        Ok(outcome.map_err(Failure::from))
    }

    /// Instantiates `component`'s orchestrators in a fresh sandbox and calls their `names`
    /// export: the smallest complete trip into a guest (a new store, an instance from the
    /// pre-instantiated component, one call), which is what an instance that is not cached pays
    /// before its replay. Benchmarks time it; hosts have no other use for it.
    pub async fn orchestrator_names(&self, component: &LoadedComponent) -> Result<Vec<String>, GuestError> {
        let observed = GuestObserved::new();
        let wasi = deterministic_wasi("names", 0, &observed);
        let state = GuestState::new(wasi, self.config.max_memory_bytes, OrchestrationSession::idle());
        let store = store(&self.orchestrator_engine, state, Deadline::Call(u64::MAX));
        let run = Run {
            what: "orchestrators".into(),
            memory: self.config.max_memory_bytes,
            cpu: String::new(),
            timeout: None,
            observed: &observed,
        };
        let (names, _) = self
            .run_guest(
                component,
                (component.orchestrator_pre.as_ref(), "orchestrators"),
                store,
                run,
                async |pre, store| pre.instantiate_async(store).await,
                async |instance, store| instance.reprise_durable_orchestrators().call_names(store).await,
            )
            .await?;
        Ok(names)
    }
}
