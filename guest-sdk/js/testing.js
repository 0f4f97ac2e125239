// Unit tests of orchestrations under Node, outside wasm: a simulated host with mocked
// activities, events raised at a chosen point and a virtual clock, and the replay of recorded
// histories against the current code.
//
//     // node --import ./guest-sdk/js/testing/register.mjs --test guests/my-guest/
//     import { test } from "node:test";
//     import assert from "node:assert/strict";
//     import { Failure } from "../../guest-sdk/js/reprise.js";
//     import { Harness } from "../../guest-sdk/js/testing.js";
//     import "./main.js"; // registers the guest's orchestrators and activities
//
//     test("a rejected item is reported", async () => {
//       const run = await new Harness()
//         .activityResults("js_process_item", [new Failure("ItemRejected", "no")])
//         .start("js_fan_out", { items: 1 });
//       assert.equal(run.status, "Completed");
//       assert.deepEqual(run.output.failures, ["item 0: no"]);
//     });
//
// The `--import` registers Node module hooks (testing/hooks.mjs) that stand in for the host's
// `reprise:durable/...` imports, which componentize-js resolves at build time; the component
// build ignores all of this.
//
// How it runs an orchestrator: as the host's cold path does. Each episode runs the orchestrator
// from the start against its recorded history (testing/replayer.js is the host's replay engine,
// event for event). A wait that history cannot answer ends the episode: the stand-in host call
// throws, and keeps throwing on every later call, so the code's own `try`/`catch` cannot go on
// past it (on the host the call never returns); what the code returns then is ignored. The
// harness then runs the activities the episode scheduled, delivers their results as the next
// episode, and so on until the orchestrator waits only for the future (a timer, a retry), for an
// event, or has finished. Activities run at once, in zero virtual time, one after the other in
// the order they were scheduled, and all the results of one round are delivered in one episode.
//
// - Activities: `harness.activity(name, fn)` runs `fn(ctx, input)` as the SDK runs an activity
//   (ctx: `attempt`, `instanceId`, `taskId`, `idempotencyKey`); `activityResults(name,
//   [outcome, ...])` gives attempt n the n-th outcome (a value, or a Failure to fail it), the
//   last one repeating. An activity given neither runs the code the guest registered under that
//   name, if any; otherwise it fails with `ActivityNotFound`, as on a host without it. A failed
//   attempt is retried by the call's retry policy exactly as the host decides (host/core/src/
//   retry.rs: the same backoff, attempt limit, retry timeout and non-retryable types), at its
//   virtual time; the attempts are in `run.activityCalls`.
// - Time: the clock starts at `startTime` (1700000000000 ms by default) and moves only when the
//   test moves it, in whole ms: `run.advance(ms)` fires each timer and retry that falls due at
//   its own time, `run.runToCompletion()` skips to each next one until the orchestration ends
//   (and gives up after `{ maxJumps }` of them, 100000 by default). A 30-day timer costs nothing.
// - Events: `run.raiseEvent(name, data)` delivers one to the orchestration (`{ instanceId }`: to
//   a sub-orchestration of the run), then runs until idle.
// - Updates: `await run.update(name, input)` sends one to the orchestration (ids `update-1`,
//   `update-2`... in the order sent), runs until idle and resolves to the answer `{id, answered,
//   output, failure}`; `run.answer(id)` reads it later. Validators do not run here: call them.
// - Sub-orchestrations: the child runs in the same simulated host, by `harness.orchestrator(name,
//   fn)` or the guest's registered orchestrator of that name, with the host's child ids (and its
//   rules of ids: a refused one traps the parent, a taken one fails the task with
//   `InstanceExists`), failure wrapping (`SubOrchestrationFailed`), `OrchestratorNotFound` for a
//   child nobody provides, and retries. Events sent with `ctx.raiseEvent` reach an instance of
//   the run (the root or a child; one waiting for its retry keeps them until it restarts);
//   others are kept in `run.sentEvents`.
// - `replay(history, orchestrator)` replays `reprise history ID --json` output or an export
//   bundle (text or parsed) and throws the host's nondeterminism error where the code diverges.
//
// Not supported, and why:
// - Entities (`callEntity`, `signalEntity`, `lock`, and entity functions): running them would
//   need the host's entity scheduler (batches, lock queues, the order operations of several
//   callers interleave in), which this harness does not reproduce. An orchestrator that calls
//   one makes whichever of `start`, `advance`, `raiseEvent` and `runToCompletion` runs that
//   episode reject, and `replay` throw, with an UnsupportedError naming the call; test such
//   code on the host (tests/all) or keep the entity calls out of the logic under test.
// - Activities that take time: every attempt ends at once, in zero virtual time. So activity
//   timeouts (`timeoutMs`) never fire (give the attempt a `new Failure("TimedOut", ...)`
//   outcome to test what the orchestrator does then), and an activity racing a timer wins
//   unless it fails and its retry waits past the timer.
// - Deployment defaults (a deployment file's retry policy for an activity): the harness applies
//   the policy the call gives, as the host does for a call without a deployment file.
// - History limits, suspension, termination, rewind and upgrades (the host's operations, not
//   the orchestrator's logic); `replay` refuses a rewound history rather than replay it wrongly.

import { Failure, exports as registry, runAs } from "./reprise.js";
import { GUID_NAMESPACE, instanceIdError, nextAttempt, uuidV5 } from "./testing/host-rules.js";
import { hold, withBinding } from "./testing/session.js";
import { PENDING, ReplayError, Replayer, describeCommand, hostFailure } from "./testing/replayer.js";

export { ReplayError };

/** The virtual clock's default start, in ms since the epoch (the host tests' T0). */
export const DEFAULT_START_TIME = 1_700_000_000_000;

/** The instance id a run has unless `instanceId` sets another. */
export const DEFAULT_INSTANCE_ID = "test-instance";

/** How many clock jumps `runToCompletion` makes before deciding the orchestration never ends. */
const MAX_JUMPS = 100_000;

/** What the stand-in host throws to unwind an orchestrator whose episode has ended. */
const UNWIND = Object.freeze({ toString: () => "the test harness ended this episode (the orchestrator waits)" });

/** The host's form of the SDK's WIT retry record (BigInt milliseconds), checked as the host does. */
function hostRetry(wire) {
  if (wire === undefined) return undefined;
  const policy = {
    max_attempts: wire.maxAttempts,
    first_retry_interval_ms: Number(wire.firstRetryIntervalMs),
    backoff_coefficient: wire.backoffCoefficient,
  };
  if (wire.maxRetryIntervalMs !== undefined) policy.max_retry_interval_ms = Number(wire.maxRetryIntervalMs);
  if (wire.retryTimeoutMs !== undefined) policy.retry_timeout_ms = Number(wire.retryTimeoutMs);
  if (wire.nonRetryableErrors?.length > 0) policy.non_retryable_errors = [...wire.nonRetryableErrors];
  if (!(policy.backoff_coefficient >= 1 && Number.isFinite(policy.backoff_coefficient))) {
    throw new Refusal(`a retry policy's backoff_coefficient must be a number of at least 1.0, not ${policy.backoff_coefficient}`);
  }
  return policy;
}

/** A host call the host refuses (it traps the guest, which fails as GuestTrapped). */
class Refusal extends Error {}

/** The host's failure from the SDK's WIT failure record. */
function fromWire(wire) {
  const causes = (wire.causes ?? []).map((c) => hostFailure(c.errorType, c.message, c.details));
  return hostFailure(wire.errorType, wire.message, wire.details, causes);
}

/** The SDK's WIT failure record from the host's failure. */
function toWire(failure) {
  const cause = (c) => ({ errorType: c.error_type, message: c.message, details: c.details });
  return { ...cause(failure), causes: (failure.causes ?? []).map(cause) };
}

/** A value thrown or given as an outcome (a Failure, any other error, any value) as a host failure, as the SDK reports it. */
function failureOf(value) {
  return fromWire(Failure.from(value).toWire());
}

/** A thrown value of the SDK's exports (a WIT failure record), or a plain error, as a host failure. */
function thrownFailure(thrown) {
  if (thrown !== null && typeof thrown === "object" && typeof thrown.errorType === "string") return fromWire(thrown);
  return failureOf(thrown);
}

/** The failure an instance ends with when replay refuses a call (`replay_failure` of the host). */
function replayFailure(error) {
  const types = { Nondeterminism: "NondeterminismError", LockViolation: "LockViolation" };
  return hostFailure(types[error.kind] ?? "GuestTrapped", error.message);
}

/** An orchestrator call this harness cannot answer faithfully (see the module docs). */
export class UnsupportedError extends Error {
  constructor(call) {
    super(
      `the JavaScript test harness does not support entities: the orchestrator called ${call}; ` +
        "test it on the host (tests/all), or keep entity calls out of the logic under test",
    );
    this.name = "UnsupportedError";
  }
}

/**
 * The stand-in `orchestration` interface for one run of the orchestrator's code, answered by a
 * Replayer. Once the run must stop (a wait nothing answers, a refused call, an error of the
 * harness), every call throws UNWIND and `stop` says why.
 */
class OrchestrationBinding {
  constructor(replayer, instanceId, logs) {
    this.replayer = replayer;
    this.id = instanceId;
    this.logs = logs;
    this.stop = undefined;
  }

  call(body) {
    if (this.stop !== undefined) throw UNWIND;
    try {
      return body();
    } catch (error) {
      if (error === UNWIND) throw error;
      if (error instanceof ReplayError) this.stop = { replay: error };
      else if (error instanceof Refusal) this.stop = { refused: error.message };
      else if (error instanceof UnsupportedError) this.stop = { unsupported: error };
      // A fault of the harness (or a call it cannot take): the code's own catch must not
      // swallow it, so it unwinds the code and comes out after the episode.
      else this.stop = { harness: error };
      throw UNWIND;
    }
  }

  wait(poll) {
    return this.call(() => {
      for (;;) {
        const answer = poll();
        if (answer !== PENDING) return answer.map(({ task, outcome }) => completion(task, outcome));
        if (this.replayer.advance() === "Blocked") {
          this.stop = { blocked: true };
          throw UNWIND;
        }
      }
    });
  }

  instanceId() {
    return this.call(() => this.id);
  }
  isReplaying() {
    return this.call(() => this.replayer.isReplaying);
  }
  currentTime() {
    return this.call(() => BigInt(this.replayer.now));
  }
  newGuid() {
    return this.call(() => uuidV5(GUID_NAMESPACE, this.replayer.guidName()));
  }
  version(changeId, max) {
    return this.call(() => this.replayer.version(changeId, max));
  }
  setCustomStatus(status) {
    return this.call(() => this.replayer.setCustomStatus(status));
  }
  log(level, message) {
    // The host logs a line once, when first run, not on replay.
    return this.call(() => {
      if (!this.replayer.isReplaying) this.logs.push({ instanceId: this.id, level, message });
    });
  }
  scheduleActivity(name, input) {
    return this.call(() => BigInt(this.replayer.scheduleActivity(name, input, undefined)));
  }
  scheduleActivityWithOptions(name, input, { retry, timeoutMs }) {
    return this.call(() => {
      const options = {};
      const policy = hostRetry(retry);
      if (policy !== undefined) options.retry = policy;
      if (timeoutMs !== undefined) options.timeout_ms = Number(timeoutMs);
      const recorded = Object.keys(options).length > 0 ? options : undefined;
      return BigInt(this.replayer.scheduleActivity(name, input, recorded));
    });
  }
  scheduleSubOrchestration(name, input, { instanceId, retry }) {
    return this.call(() => {
      // The host's order: the retry policy, then the id (the engine checks a derived one).
      const policy = hostRetry(retry);
      const refused = instanceId === undefined ? undefined : instanceIdError(instanceId);
      if (refused !== undefined) throw new Refusal(`sub-orchestration '${name}' cannot start: ${refused}`);
      return BigInt(this.replayer.scheduleSubOrchestration(name, instanceId, input, policy));
    });
  }
  continueAsNew(input, carry) {
    return this.call(() => this.replayer.requestContinueAsNew(input, carry));
  }
  scheduleTimer(fireAt) {
    return this.call(() => BigInt(this.replayer.scheduleTimer(Number(fireAt))));
  }
  waitForEvent(name) {
    return this.call(() => BigInt(this.replayer.waitForEvent(name)));
  }
  waitForUpdate(name) {
    return this.call(() => BigInt(this.replayer.waitForUpdate(name)));
  }
  replyUpdate(updateId, reply) {
    return this.call(() => this.replayer.replyUpdate(updateId, reply.tag === "ok" ? { output: reply.val } : { failure: fromWire(reply.val) }));
  }
  raiseEvent(instanceId, name, data) {
    return this.call(() => this.replayer.raiseEvent(instanceId, name, data));
  }
  callEntity(entity, operation) {
    return this.call(() => {
      throw new UnsupportedError(`callEntity/scheduleEntityCall('${operation}') on @${entity.name}@${entity.key}`);
    });
  }
  signalEntity(entity, operation) {
    return this.call(() => {
      throw new UnsupportedError(`signalEntity('${operation}') on @${entity.name}@${entity.key}`);
    });
  }
  lockEntities(entities) {
    return this.call(() => {
      throw new UnsupportedError(`lock([${entities.map((e) => `@${e.name}@${e.key}`).join(", ")}])`);
    });
  }
  unlockEntities() {
    return this.call(() => {
      throw new UnsupportedError("unlock()");
    });
  }
  waitAll(tasks) {
    const ids = tasks.map(Number);
    return this.wait(() => this.replayer.waitAll(ids));
  }
  waitAny(tasks) {
    const ids = tasks.map(Number);
    return this.wait(() => this.replayer.waitAny(ids))[0];
  }
}

/** A completion as componentize-js hands it to the SDK. */
function completion(task, outcome) {
  return {
    task: BigInt(task),
    outcome: "ok" in outcome ? { tag: "ok", val: outcome.ok } : { tag: "err", val: toWire(outcome.err) },
  };
}

/** Runs an orchestrator (a registered name or a function) on `input` (JSON text). */
function invokeOrchestrator(target, name, input) {
  if (typeof target === "function") return runAs("orchestrator", name, target, input);
  return registry.orchestrators.run(target, input);
}

/**
 * Runs one episode of an orchestrator: its code from the start over `history`, with `messages`
 * delivered at `now` (none for a replay). Returns the replayer, where it stopped, and the new
 * events. Throws an UnsupportedError the code ran into, and any other error a host call threw
 * (after the episode, whatever the code caught).
 */
function runEpisode({ instanceId, execution, target, history, now, messages, logs }) {
  const replayer = new Replayer(instanceId, execution, "", history);
  if (messages !== undefined) replayer.deliver(now, messages);
  // Episodes before the start are possible on the host (an instance suspended before it ran).
  while (replayer.started === undefined) {
    if (replayer.advance() === "Blocked") {
      throw new ReplayError(
        "NoStart",
        "the history holds no start event (ExecutionStarted): replay needs a whole execution, from its first event, " +
          "as `reprise history ID --json` or an export bundle holds it",
      );
    }
  }
  const binding = new OrchestrationBinding(replayer, instanceId, logs);
  let result;
  withBinding("orchestration", binding, () => {
    try {
      result = { output: invokeOrchestrator(target, replayer.started.name, replayer.started.input) };
    } catch (thrown) {
      result = { thrown };
    }
  });
  const stop = binding.stop;
  if (stop?.harness !== undefined) throw stop.harness;
  if (stop?.unsupported !== undefined) throw stop.unsupported;
  if (stop?.replay !== undefined) {
    replayer.abort(replayFailure(stop.replay));
  } else if (stop?.refused !== undefined) {
    replayer.abort(hostFailure("GuestTrapped", stop.refused));
  } else if (stop === undefined) {
    try {
      if ("output" in result) replayer.complete(result.output);
      else replayer.fail(thrownFailure(result.thrown));
    } catch (error) {
      if (!(error instanceof ReplayError)) throw error;
      binding.stop = { replay: error };
      replayer.abort(replayFailure(error));
    }
  }
  return { replayer, stop: binding.stop, events: replayer.takeOutput() };
}

/** Whether `ms` is a time or a duration of the host's clock: a whole number of ms, not negative. */
const isTime = (ms) => Number.isSafeInteger(ms) && ms >= 0;

/** The value of a JSON payload, or undefined for none. */
const parse = (payload) => (payload === undefined || payload === null ? undefined : JSON.parse(payload));

/** A value as a payload (JSON text); undefined is null. */
function payload(value, what) {
  const text = JSON.stringify(value === undefined ? null : value);
  if (text === undefined) throw new TypeError(`${what} has no JSON form`);
  return text;
}

/** One instance of a run: the root, or a sub-orchestration. */
class Instance {
  constructor(id, name, target, input, parent) {
    this.id = id;
    this.name = name;
    this.target = target;
    this.input = input;
    this.parent = parent;
    this.execution = 1;
    this.history = [];
    this.executions = [{ execution: 1, events: this.history }];
    this.inbox = [{ type: "Start", name, input }];
    this.status = "Pending";
    this.output = undefined;
    this.failure = undefined;
    this.customStatus = undefined;
  }

  get ended() {
    return this.status === "Completed" || this.status === "Failed";
  }

  /**
   * Whether an episode takes the inbox now. An execution with no history and no start among
   * its messages has not started (a retried child waiting for its next attempt): it keeps them
   * until its start arrives, as the host's triage does (`Triage::NotStarted`).
   */
  get takesInbox() {
    if (this.inbox.length === 0) return false;
    return this.history.length > 0 || this.inbox.some((message) => message.type === "Start");
  }

  /** Starts the next execution (after continue-as-new or a retry of a failed child). */
  restart(input, carried) {
    this.execution += 1;
    this.input = input;
    this.history = [];
    this.executions.push({ execution: this.execution, events: this.history });
    this.inbox = [{ type: "Start", name: this.name, input }, ...carried.map(({ name, data }) => ({ type: "EventRaised", name, data }))];
    this.status = "ContinuedAsNew";
  }
}

/**
 * The test's configuration of the simulated world: activities, child orchestrators, the clock's
 * start and the instance id. `start` runs an orchestrator in it.
 */
export class Harness {
  constructor() {
    this._activities = new Map();
    this._orchestrators = new Map();
    this._startTime = DEFAULT_START_TIME;
    this._instanceId = DEFAULT_INSTANCE_ID;
  }

  /** The activity `name` runs `fn(ctx, input)` in this test (a mock, or a real activity function). */
  activity(name, fn) {
    if (typeof fn !== "function") throw new TypeError(`activity('${name}', fn) needs a function`);
    this._activities.set(name, { fn });
    return this;
  }

  /** Attempt n of any task of activity `name` ends with `outcomes[n-1]` (a value, or a Failure to fail); the last repeats. */
  activityResults(name, outcomes) {
    if (!Array.isArray(outcomes) || outcomes.length === 0) {
      throw new TypeError(`activityResults('${name}', outcomes) needs a non-empty array of outcomes`);
    }
    this._activities.set(name, { outcomes: [...outcomes] });
    return this;
  }

  /** The orchestrator `name` (for sub-orchestrations) is `fn` in this test. */
  orchestrator(name, fn) {
    if (typeof fn !== "function") throw new TypeError(`orchestrator('${name}', fn) needs a function`);
    this._orchestrators.set(name, fn);
    return this;
  }

  /** The virtual clock's start: a Date or a whole number of ms since the epoch. */
  startTime(time) {
    const ms = time instanceof Date ? time.getTime() : time;
    if (!isTime(ms)) throw new TypeError(`startTime(time) needs a Date or a non-negative whole number of ms since the epoch, not ${time}`);
    this._startTime = ms;
    return this;
  }

  /** The root instance's id (the host's rules of instance ids apply). */
  instanceId(id) {
    const text = String(id);
    const refused = instanceIdError(text);
    if (refused !== undefined) throw new Error(`the instance id '${text}' cannot be used: ${refused}`);
    this._instanceId = text;
    return this;
  }

  /** What runs the orchestrator `name`: the function given for it, else the guest's registered one (its name), else undefined. */
  _target(name) {
    if (this._orchestrators.has(name)) return this._orchestrators.get(name);
    return registry.orchestrators.names().includes(name) ? name : undefined;
  }

  /**
   * Starts `orchestrator` (the name of one the guest registered, or a function `(ctx, input)`)
   * with `input`, and runs until it is idle at the start time. Resolves to the Run.
   */
  async start(orchestrator, input = null) {
    let name;
    if (typeof orchestrator === "function") {
      name = orchestrator.name || "orchestrator";
    } else if (typeof orchestrator === "string") {
      name = orchestrator;
      const target = this._target(name);
      if (target === undefined) {
        const known = registry.orchestrators.names().sort().join(", ") || "none";
        throw new Error(`no orchestrator named '${name}' is registered (registered: ${known}) or given with harness.orchestrator`);
      }
      orchestrator = target;
    } else {
      throw new TypeError("start(orchestrator, input) needs an orchestrator's name or function");
    }
    const run = new Run(this, new Instance(this._instanceId, name, orchestrator, payload(input, "the input"), undefined));
    await run._runUntilIdle();
    return run;
  }
}

/** An orchestration running in the simulated world. See the module docs. */
export class Run {
  constructor(harness, root) {
    this._harness = harness;
    this._root = root;
    this._instances = new Map([[root.id, root]]);
    this._due = [];
    this._dueCount = 0;
    /** The virtual time, in ms since the epoch. */
    this.now = harness._startTime;
    /** Every activity attempt run: `{name, input, attempt, instanceId, taskId}`. */
    this.activityCalls = [];
    /** Events the orchestrators raised on instances outside the run: `{instanceId, name, data}`. */
    this.sentEvents = [];
    /** Lines the orchestrators logged (once each, as the host logs them). */
    this.logs = [];
  }

  /** "Pending", "Running", "Completed", "Failed" or "ContinuedAsNew" (its next execution not yet run). */
  get status() {
    return this._root.status;
  }
  /** The output, once Completed. */
  get output() {
    return parse(this._root.output);
  }
  /** The failure (`{error_type, message, details?, causes?}`), once Failed. */
  get failure() {
    return this._root.failure;
  }
  /** The custom status the orchestrator set last, or undefined. */
  get customStatus() {
    return parse(this._root.customStatus);
  }
  /**
   * The current execution's history, in the host's shape: the events of an export bundle
   * (`{seq, type, ...}`, payloads as JSON text, times in ms), which `replay` takes back.
   */
  get history() {
    return this._root.history.map((event) => structuredClone(event));
  }
  /** Every execution's history (continue-as-new starts a new one): `[{execution, events}]`. */
  get executions() {
    return this._root.executions.map(({ execution, events }) => ({ execution, events: structuredClone(events) }));
  }
  /** The orchestrator's commands, described as the host describes them, over all its executions. */
  get commands() {
    return this._root.executions.flatMap(({ events }) => events.map(describeCommand).filter((c) => c !== undefined));
  }
  /** A sub-orchestration of this run, by instance id: `{status, output, failure, customStatus, history}`. */
  instance(id) {
    const found = this._instances.get(id);
    if (found === undefined) throw new Error(`the run has no instance '${id}' (it has: ${[...this._instances.keys()].join(", ")})`);
    const { status, failure } = found;
    return { status, output: parse(found.output), failure, customStatus: parse(found.customStatus), history: structuredClone(found.history) };
  }

  /**
   * Delivers the event `name` with `data` to the orchestration (or, with `instanceId`, to that
   * sub-orchestration of the run), and runs until idle.
   */
  async raiseEvent(name, data = null, { instanceId } = {}) {
    const target = instanceId === undefined ? this._root : this._instances.get(instanceId);
    if (target === undefined) throw new Error(`the run has no instance '${instanceId}' (it has: ${[...this._instances.keys()].join(", ")})`);
    target.inbox.push({ type: "EventRaised", name, data: payload(data, `the data of event '${name}'`) });
    await this._runUntilIdle();
    return this;
  }

  /**
   * Sends the update `name` with `input` to the orchestration at the current time, runs until
   * idle, and resolves to what the orchestrator answered: `{id, answered, output, failure}`
   * (`answered` false if it has not yet; it may once time moves, and `run.answer(id)` then has
   * it). Its id is `update-N`, N counting the updates the current execution received.
   * Validators do not run here: they are plain functions, tested by calling them.
   */
  async update(name, input = null) {
    if (this._root.ended) throw new Error(`the update '${name}' was sent after the orchestration ended (${this._root.status})`);
    const sent = [...this._root.history, ...this._root.inbox].filter((e) => e.type === "UpdateReceived" || e.type === "UpdateRequested");
    const id = `update-${sent.length + 1}`;
    this._root.inbox.push({ type: "UpdateRequested", update_id: id, name, input: payload(input, `the input of update '${name}'`) });
    await this._runUntilIdle();
    return this.answer(id);
  }

  /** The orchestrator's answer to the update `id` so far: `{id, answered, output, failure}`. */
  answer(id) {
    const replied = this._root.history.find((e) => e.type === "UpdateReplied" && e.update_id === id);
    if (replied === undefined) return { id, answered: false, output: undefined, failure: undefined };
    const { reply } = replied;
    return "output" in reply
      ? { id, answered: true, output: parse(reply.output), failure: undefined }
      : { id, answered: true, output: undefined, failure: reply.failure };
  }

  /** Moves the clock `ms` forward, running what falls due (timers, retries) at its own time. */
  async advance(ms) {
    // Whole ms, as the host's clock: a fraction would reach the orchestrator's currentTime.
    if (!isTime(ms)) throw new TypeError(`advance(ms) needs a non-negative whole number of ms, not ${ms}`);
    const target = this.now + ms;
    for (;;) {
      const next = this._nextDue();
      if (next === undefined || next.at > target) break;
      this.now = Math.max(this.now, next.at);
      await this._runUntilIdle();
    }
    this.now = target;
    await this._runUntilIdle();
    return this;
  }

  /**
   * Skips time to each next timer or retry until the orchestration ends. Rejects if it waits for
   * what nothing will deliver (saying what), or after `maxJumps` timers and retries.
   */
  async runToCompletion({ maxJumps = MAX_JUMPS } = {}) {
    for (let jumps = 0; !this._root.ended; jumps++) {
      const next = this._nextDue();
      if (next === undefined) throw new Error(`the orchestration (${this._root.status}) cannot finish: it waits for ${this._awaited()}`);
      if (jumps >= maxJumps) {
        throw new Error(
          `the orchestration (${this._root.status}) did not finish after ${maxJumps} timers and retries: if it loops on timers or ` +
            `retries for good, test a stretch of it with run.advance(ms); if it is meant to take longer, raise ` +
            `runToCompletion({ maxJumps }) (${MAX_JUMPS} by default)`,
        );
      }
      this.now = Math.max(this.now, next.at);
      await this._runUntilIdle();
    }
    return this;
  }

  /** What the run waits for when nothing is due: the events the root or its unfinished children wait for. */
  _awaited() {
    const events = (names) => `the event(s) ${names.map((n) => `'${n}'`).join(", ")}`;
    const root = this._pendingEventWaits(this._root);
    if (root.length > 0) return `${events(root)}: raise them with run.raiseEvent`;
    const updates = this._pendingUpdateWaits(this._root);
    if (updates.length > 0) return `the update(s) ${updates.map((n) => `'${n}'`).join(", ")}: send them with run.update`;
    const children = [...this._instances.values()].filter((i) => i !== this._root && !i.ended && i.history.length > 0);
    const waiting = children.map((child) => ({ child, names: this._pendingEventWaits(child) })).filter((w) => w.names.length > 0);
    const which = (child) => `sub-orchestration '${child.name}' (instance ${child.id})`;
    if (waiting.length > 0) {
      const list = waiting.map(({ child, names }) => `${which(child)}, which waits for ${events(names)}`).join("; and ");
      return `${list}: raise them with run.raiseEvent(name, data, { instanceId })`;
    }
    if (children.length > 0) return `${children.map(which).join(", ")}, which wait(s) for nothing the harness can deliver`;
    return "nothing the harness can deliver";
  }

  /** The names of the events `instance` waits for (replaying its history tells). */
  _pendingEventWaits(instance) {
    const { replayer } = runEpisode({ ...this._episodeOf(instance), messages: undefined, logs: [] });
    return [...new Set(replayer.eventWaits.map((wait) => wait.name))];
  }

  /** The names of the updates `instance` waits for. */
  _pendingUpdateWaits(instance) {
    const { replayer } = runEpisode({ ...this._episodeOf(instance), messages: undefined, logs: [] });
    return [...new Set(replayer.updateWaits.map((wait) => wait.name))];
  }

  _episodeOf(instance) {
    return { instanceId: instance.id, execution: instance.execution, target: instance.target, history: instance.history, now: this.now };
  }

  _schedule(entry) {
    this._due.push({ ...entry, order: this._dueCount++ });
  }

  _nextDue() {
    let next;
    for (const entry of this._due) {
      if (next === undefined || entry.at < next.at || (entry.at === next.at && entry.order < next.order)) next = entry;
    }
    return next;
  }

  /** Runs episodes and what falls due now until nothing is left to do at this time. */
  async _runUntilIdle() {
    for (;;) {
      const ready = [...this._instances.values()].filter((instance) => instance.takesInbox);
      if (ready.length > 0) {
        ready.forEach((instance) => this._episode(instance));
        continue;
      }
      const due = this._due.filter((entry) => entry.at <= this.now).sort((a, b) => a.at - b.at || a.order - b.order);
      if (due.length === 0) return;
      this._due = this._due.filter((entry) => entry.at > this.now);
      for (const entry of due) await this._fire(entry);
    }
  }

  _episode(instance) {
    const messages = instance.inbox.splice(0);
    if (instance.ended) return; // A finished instance takes nothing more, as on the host.
    if (instance.target === undefined) {
      // Every attempt of a child nobody provides, the first as a retried one.
      const failure = hostFailure("OrchestratorNotFound", `no orchestrator named '${instance.name}' is registered or given with harness.orchestrator`);
      this._failWithoutGuest(instance, failure);
      return;
    }
    const { replayer, events } = runEpisode({ ...this._episodeOf(instance), messages, logs: this.logs });
    instance.history.push(...events);
    instance.customStatus = replayer.customStatus;
    instance.status = "Running";
    for (const event of events) this._apply(instance, event);
    const end = replayer.terminal;
    if (end === undefined) return;
    if (end.status === "ContinuedAsNew") {
      instance.restart(end.input, end.carried);
      return;
    }
    instance.status = end.status;
    instance.output = end.output;
    instance.failure = end.failure;
    if (instance.parent !== undefined) this._tellParent(instance);
  }

  /**
   * Ends the execution with `failure` without running any code, as the host ends an instance
   * whose orchestrator no component exports (`lifecycle::failed_without_guest`).
   */
  _failWithoutGuest(instance, failure) {
    const events = [{ type: "EpisodeStarted", time: this.now }];
    if (instance.history.length === 0) events.push({ type: "ExecutionStarted", name: instance.name, input: instance.input, component: "" });
    events.push({ type: "ExecutionFailed", failure });
    const base = instance.history.length;
    instance.history.push(...events.map((event, index) => ({ seq: base + index, ...event })));
    instance.status = "Failed";
    instance.failure = failure;
    if (instance.parent !== undefined) this._tellParent(instance);
  }

  /** What a new event of `instance`'s episode sets going (the host's writes). */
  _apply(instance, event) {
    const { execution } = instance;
    switch (event.type) {
      case "ActivityScheduled":
        this._schedule({ at: this.now, kind: "attempt", instance, execution, taskId: event.task_id, name: event.name, input: event.input, options: event.options, attempt: 1, createdAt: this.now });
        return;
      case "TimerScheduled":
        this._schedule({ at: event.fire_at, kind: "timer", instance, execution, taskId: event.task_id });
        return;
      case "SubOrchestrationScheduled": {
        if (this._instances.has(event.instance_id)) {
          // The host creates no second instance under a taken id: the parent's task fails.
          const taken = hostFailure("InstanceExists", `an instance with id '${event.instance_id}' already exists`);
          instance.inbox.push({ type: "SubOrchestrationFailed", task_id: event.task_id, failure: taken });
          return;
        }
        const target = this._harness._target(event.name);
        const parent = { instance, execution, taskId: event.task_id, retry: event.retry, attempt: 1, firstStarted: this.now };
        this._instances.set(event.instance_id, new Instance(event.instance_id, event.name, target, event.input, parent));
        return;
      }
      case "EventSent": {
        const target = this._instances.get(event.instance_id);
        if (target !== undefined) target.inbox.push({ type: "EventRaised", name: event.name, data: event.data });
        else this.sentEvents.push({ instanceId: event.instance_id, name: event.name, data: parse(event.data) });
        return;
      }
      default:
        return;
    }
  }

  /** A finished child's result for its parent, or its retry (`tell_parent` of the host). */
  _tellParent(child) {
    const { instance: parent, execution, taskId } = child.parent;
    if (parent.execution !== execution || parent.ended) return;
    if (child.status === "Completed") {
      parent.inbox.push({ type: "SubOrchestrationCompleted", task_id: taskId, output: child.output ?? "null" });
      return;
    }
    const { retry, attempt, firstStarted } = child.parent;
    const next = retry === undefined ? undefined : nextAttempt(retry, attempt, child.failure, firstStarted, this.now);
    if (next === undefined) {
      parent.inbox.push({ type: "SubOrchestrationFailed", task_id: taskId, failure: child.failure });
      return;
    }
    parent.inbox.push({ type: "SubOrchestrationRetrying", task_id: taskId, attempt, failure: child.failure, next_attempt_at: next });
    child.parent = { ...child.parent, attempt: attempt + 1 };
    child.restart(child.input, []);
    // The next attempt starts once the wait has passed.
    const start = child.inbox.splice(0);
    child.status = "ContinuedAsNew";
    this._schedule({ at: next, kind: "restart", instance: child, execution: child.execution, messages: start });
  }

  async _fire(entry) {
    const { instance } = entry;
    if (instance.execution !== entry.execution || instance.ended) return;
    if (entry.kind === "timer") {
      instance.inbox.push({ type: "TimerFired", task_id: entry.taskId });
    } else if (entry.kind === "restart") {
      // Its start was sent when the attempt failed: before anything it kept meanwhile.
      instance.inbox.unshift(...entry.messages);
    } else {
      await this._attempt(entry);
    }
  }

  /** Runs one activity attempt and delivers its result, or its retry (`plan::activity::result`). */
  async _attempt(entry) {
    const { instance, taskId, name, input, attempt } = entry;
    this.activityCalls.push({ name, input: JSON.parse(input), attempt, instanceId: instance.id, taskId });
    const outcome = await this._runActivity(entry);
    if ("ok" in outcome) {
      instance.inbox.push({ type: "ActivityCompleted", task_id: taskId, output: outcome.ok });
      return;
    }
    const failure = outcome.err;
    const policy = entry.options?.retry;
    const next = policy === undefined ? undefined : nextAttempt(policy, attempt, failure, entry.createdAt, this.now);
    if (next === undefined) {
      instance.inbox.push({ type: "ActivityFailed", task_id: taskId, failure });
      return;
    }
    instance.inbox.push({ type: "ActivityRetrying", task_id: taskId, attempt, failure, next_attempt_at: next });
    this._schedule({ ...entry, at: next, attempt: attempt + 1 });
  }

  /** One attempt's outcome: `{ok: payload}` or `{err: failure}` (the activity's own). */
  async _runActivity({ instance, execution, taskId, name, input, attempt }) {
    const given = this._harness._activities.get(name);
    if (given?.outcomes !== undefined) {
      const outcome = given.outcomes[Math.min(attempt, given.outcomes.length) - 1];
      if (outcome instanceof Error) return { err: failureOf(outcome) };
      return { ok: payload(outcome, `the outcome of activity '${name}'`) };
    }
    let run;
    if (given?.fn !== undefined) run = () => runAs("activity", name, given.fn, input);
    else if (registry.activities.names().includes(name)) run = () => registry.activities.run(name, input);
    else return { err: hostFailure("ActivityNotFound", `no loaded component exports an activity named '${name}'`) };
    const context = {
      instanceId: () => instance.id,
      taskId: () => BigInt(taskId),
      attempt: () => attempt,
      idempotencyKey: () => `${instance.id}/${execution}/${taskId}`,
    };
    // The binding stays for the whole attempt, an async activity reading its context after
    // awaits; attempts run one at a time, so no other code sees it.
    const release = hold("activity-context", context);
    try {
      return { ok: await run() };
    } catch (thrown) {
      return { err: thrownFailure(thrown) };
    } finally {
      release();
    }
  }
}

/** What `replay` takes, for the messages that refuse something else. */
const HISTORY_FORMATS = "replay takes the output of `reprise history ID --json`, an export bundle (`reprise export ID`) or a Run's history";

/**
 * A history document's events in the host's serde shape: a bundle's current execution (the
 * highest number, as `history_text::parse` of the host picks it), or `history --json`.
 */
function eventsOf(document) {
  let value = document;
  if (typeof document === "string") {
    try {
      value = JSON.parse(document);
    } catch (error) {
      throw new Error(`not a history: the text is not JSON (${error.message}); ${HISTORY_FORMATS}`);
    }
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    if (value.format !== "reprise-bundle") throw new Error(`not a history: an object whose format is '${value.format}', not 'reprise-bundle'; ${HISTORY_FORMATS}`);
    const executions = Array.isArray(value.executions) ? value.executions : [];
    if (executions.length === 0) throw new Error("the bundle holds no execution");
    // The last of the highest, as Rust's `max_by_key`.
    const last = executions.reduce((best, e) => (e.execution >= best.execution ? e : best));
    return { events: last.events, execution: last.execution, instanceId: value.instance?.instance_id };
  }
  if (!Array.isArray(value)) throw new Error(`not a history: a JSON ${value === null ? "null" : typeof value}; ${HISTORY_FORMATS}`);
  // `reprise history --json` embeds payloads and writes times as RFC 3339; a bundle's events do
  // not. The first event (EpisodeStarted) tells which.
  const embedded = typeof value[0]?.time === "string";
  const events = embedded ? value.map(fromCliEvent) : value;
  return { events, execution: undefined, instanceId: undefined };
}

function fromCliEvent(event) {
  const out = { ...event };
  for (const key of ["input", "output", "data"]) if (key in out) out[key] = JSON.stringify(out[key]);
  for (const key of ["time", "fire_at", "next_attempt_at"]) if (typeof out[key] === "string") out[key] = Date.parse(out[key]);
  return out;
}

/**
 * Replays a recorded history (`reprise history ID --json` output, an export bundle, or a
 * Run's `history`; text or parsed) with `orchestrator` (a registered name or a function), as
 * the host's replay check does: nothing new is delivered. Resolves to `{status, output, failure,
 * customStatus, commands}` where the code waits or ends as the recorded run did; throws a
 * ReplayError with the host's message (`nondeterminism at history position N: ...`) where it
 * diverges. `options.instanceId` and `options.execution` set what the history does not say
 * (they change only `newGuid` and children's ids).
 */
export function replay(history, orchestrator, options = {}) {
  const { events, execution, instanceId } = eventsOf(history);
  if (typeof orchestrator === "string" && !registry.orchestrators.names().includes(orchestrator)) {
    throw new Error(`no orchestrator named '${orchestrator}' is registered`);
  }
  const episode = {
    instanceId: options.instanceId ?? instanceId ?? DEFAULT_INSTANCE_ID,
    execution: options.execution ?? execution ?? 1,
    target: orchestrator,
    history: events,
    now: 0,
    messages: undefined,
    logs: [],
  };
  const { replayer, stop } = runEpisode(episode);
  if (stop?.replay !== undefined) throw stop.replay;
  if (stop?.refused !== undefined) throw new ReplayError("Refused", stop.refused);
  const end = replayer.terminal;
  return {
    status: end?.status ?? "Running",
    output: parse(end?.output),
    failure: end?.failure,
    customStatus: parse(replayer.customStatus),
    commands: events.slice(0, replayer.position).map(describeCommand).filter((c) => c !== undefined),
  };
}
