// Reprise's guest SDK for JavaScript: durable orchestrators, activities and entities as plain
// functions.
//
// A guest module registers its functions and exports what the component model calls:
//
//     import { orchestrator, activity, entity, exports } from "../../guest-sdk/js/reprise.js";
//
//     orchestrator("hello", (ctx, name) => ctx.callActivity("greet", name));
//     activity("greet", (ctx, name) => `Hello, ${name}!`);
//
//     export const { orchestrators, activities, entities, updateValidators } = exports;
//
// The component is built by componentize-js against the world `app-validated` of
// wit/durable.wit (`app` with the update validators).
// Inputs and outputs are JSON documents. This module owns the JavaScript idioms only: every
// durable decision goes through the host's `orchestration` interface (answered from history on
// replay), and it never reads a real clock or a real random source. Blocking calls
// (`Task.result`, `taskAll`, `taskAny`) are single `wait-any` / `wait-all` host calls: the host
// parks the instance, or stops it and replays it later.
//
// Activities may be `async`, and may use the standard `fetch`: the host sends each request
// through `wasi:http` if one of the activity's grants allows it, and componentize-js runs the
// event loop until the activity's promise settles. A request that gets no response (a network
// error, or a request the host denies) rejects, which fails the activity unless caught (with the
// error's class as the error type); a response is returned whatever its status, and redirects
// are not followed:
//
//     activity("get_rate", async (ctx, currency) => {
//       const response = await fetch(`https://rates.example/v1/${currency}`);
//       if (!response.ok) throw new Failure("RateUnavailable", `the service answered ${response.status}`);
//       return (await response.json()).rate;
//     });
//
// Orchestrators and entities are synchronous and get no network: the host traps their requests.

import * as orchestration from "reprise:durable/orchestration@0.1.0";
import * as activityContext from "reprise:durable/activity-context@0.1.0";
import * as entityContext from "reprise:durable/entity-context@0.1.0";

/** Error types the host and this SDK use. */
export const ErrorTypes = Object.freeze({
  ACTIVITY_FAILED: "ActivityFailed",
  SUB_ORCHESTRATION_FAILED: "SubOrchestrationFailed",
  INVALID_INPUT: "InvalidInput",
  INVALID_OUTPUT: "InvalidOutput",
  INVALID_OPTIONS: "InvalidOptions",
  TIMED_OUT: "TimedOut",
  UNKNOWN_FUNCTION: "UnknownFunction",
  PROTOCOL_ERROR: "ProtocolError",
  ENTITY_OPERATION_FAILED: "EntityOperationFailed",
  INVALID_STATE: "InvalidState",
});

/** The address of an entity: its type name and its key (`new EntityId("Counter", "myCounter")`). */
export class EntityId {
  constructor(name, key) {
    this.name = String(name);
    this.key = String(key);
  }

  toString() {
    return `@${this.name}@${this.key}`;
  }

  toWire() {
    return { name: this.name, key: this.key };
  }
}

/**
 * A structured failure, as Durable Functions' FailureDetails: `errorType` (machine-matchable),
 * `message`, optional `details`, and `causes`, the chain of inner causes, outermost first.
 * Throw it from an orchestrator or an activity to fail with a chosen error type.
 */
export class Failure extends Error {
  constructor(errorType, message, { details, causes } = {}) {
    super(`${errorType}: ${message}`);
    this.name = "Failure";
    this.errorType = errorType;
    this.message = message;
    this.details = details;
    this.causes = causes ? [...causes] : [];
  }

  /** Appends `inner` (and its causes) to this failure's chain, and returns this. */
  causedBy(inner) {
    this.causes.push({ errorType: inner.errorType, message: inner.message, details: inner.details });
    this.causes.push(...(inner.causes ?? []));
    return this;
  }

  /** True if this failure or one of its causes has the type `errorType`. */
  matches(errorType) {
    return this.errorType === errorType || this.causes.some((c) => c.errorType === errorType);
  }

  /** The first cause (for an activity's failure, the activity's own failure), or undefined. */
  get cause() {
    return this.causes[0];
  }

  /** `error` itself if it is a Failure; otherwise a failure named after its class. */
  static from(error) {
    if (error instanceof Failure) return error;
    if (error instanceof Error) {
      return new Failure(error.name || "Error", error.message, { details: error.stack || undefined });
    }
    return new Failure("Error", String(error));
  }

  /** The WIT record. */
  toWire() {
    return {
      errorType: this.errorType,
      message: this.message,
      details: this.details ?? undefined,
      causes: this.causes.map((c) => ({ errorType: c.errorType, message: c.message, details: c.details ?? undefined })),
    };
  }
}

/**
 * The failure of a task an orchestrator waited on. For an activity, `errorType` is
 * `ActivityFailed` and the activity's own failure is `cause`; `matches` searches the chain.
 */
export class TaskFailedError extends Failure {
  constructor(errorType, message, options) {
    super(errorType, message, options);
    this.name = "TaskFailedError";
  }

  static fromWire(failure) {
    return new TaskFailedError(failure.errorType, failure.message, { details: failure.details, causes: failure.causes });
  }
}

function encode(value, what) {
  let json;
  try {
    json = JSON.stringify(value === undefined ? null : value);
  } catch (error) {
    throw new Failure(ErrorTypes.INVALID_INPUT, `${what} could not be encoded to JSON: ${error.message}`);
  }
  if (json === undefined) {
    throw new Failure(ErrorTypes.INVALID_INPUT, `${what} could not be encoded to JSON: a ${typeof value} has no JSON form`);
  }
  return json;
}

function toMs(duration, what) {
  if (typeof duration !== "number" || !Number.isFinite(duration) || duration < 0) {
    throw new Failure(ErrorTypes.INVALID_OPTIONS, `${what} must be a non-negative number of milliseconds, not ${duration}`);
  }
  return BigInt(Math.ceil(duration));
}

/**
 * How the host retries a failed activity or sub-orchestration. Durations are milliseconds.
 * `maxAttempts` counts every attempt, the first included.
 */
export class RetryPolicy {
  constructor({
    maxAttempts,
    firstRetryIntervalMs,
    backoffCoefficient = 1.0,
    maxRetryIntervalMs,
    retryTimeoutMs,
    nonRetryableErrors = [],
  }) {
    Object.assign(this, { maxAttempts, firstRetryIntervalMs, backoffCoefficient, maxRetryIntervalMs, retryTimeoutMs, nonRetryableErrors });
  }

  /** The WIT record; a Failure (InvalidOptions) if the host would refuse it. */
  toWire() {
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new Failure(ErrorTypes.INVALID_OPTIONS, `a retry policy needs maxAttempts of at least 1, not ${this.maxAttempts}`);
    }
    if (!(Number.isFinite(this.backoffCoefficient) && this.backoffCoefficient >= 1)) {
      throw new Failure(ErrorTypes.INVALID_OPTIONS, `backoffCoefficient must be at least 1.0, not ${this.backoffCoefficient}`);
    }
    return {
      maxAttempts: this.maxAttempts,
      firstRetryIntervalMs: toMs(this.firstRetryIntervalMs, "firstRetryIntervalMs"),
      backoffCoefficient: this.backoffCoefficient,
      maxRetryIntervalMs: this.maxRetryIntervalMs === undefined ? undefined : toMs(this.maxRetryIntervalMs, "maxRetryIntervalMs"),
      retryTimeoutMs: this.retryTimeoutMs === undefined ? undefined : toMs(this.retryTimeoutMs, "retryTimeoutMs"),
      nonRetryableErrors: [...this.nonRetryableErrors],
    };
  }
}

const PENDING = Symbol("pending");

/**
 * The handle of a durable task the host runs in the background. `result()` waits for it and
 * returns its output, or throws its TaskFailedError; waiting again returns the same outcome.
 */
export class Task {
  constructor(id, kind) {
    /** The host's handle (a BigInt): tasks are numbered from 0 in scheduling order. */
    this.id = id;
    /** What the task stands for, for messages. */
    this.kind = kind;
    this._output = PENDING;
    this._failure = undefined;
  }

  get isCompleted() {
    return this._output !== PENDING || this._failure !== undefined;
  }

  get isFailed() {
    return this._failure !== undefined;
  }

  result() {
    if (!this.isCompleted) {
      const completion = orchestration.waitAny([this.id]);
      if (completion.task !== this.id) {
        throw new Failure(ErrorTypes.PROTOCOL_ERROR, `waited for task ${this.id}, the host delivered task ${completion.task}`);
      }
      this._complete(completion.outcome);
    }
    if (this._failure !== undefined) throw this._failure;
    return this._output;
  }

  _complete(outcome) {
    if (outcome.tag === "err") {
      this._failure = TaskFailedError.fromWire(outcome.val);
      return;
    }
    try {
      this._output = JSON.parse(outcome.val);
    } catch (error) {
      this._failure = new TaskFailedError(ErrorTypes.INVALID_OUTPUT, `the output of ${this.kind} is not JSON: ${error.message}`);
    }
  }
}

/** An update the orchestrator received (`waitForUpdate`): answer it once with `ctx.replyUpdate`. */
export class Update {
  constructor(id, name, input) {
    /** The update's id, unique within the instance: what the answer is given to. */
    this.id = id;
    /** The update's name. */
    this.name = name;
    /** Its input (the parsed JSON). */
    this.input = input;
  }
}

/** The Task of `waitForUpdate`: `result()` returns the Update. */
export class UpdateTask extends Task {
  constructor(id, name) {
    super(id, `update '${name}'`);
    /** The name of the update waited for. */
    this.name = name;
  }

  _complete(outcome) {
    super._complete(outcome);
    if (this._failure !== undefined) return;
    const delivered = this._output;
    if (delivered === null || typeof delivered !== "object" || typeof delivered.id !== "string" || !("input" in delivered)) {
      this._output = PENDING;
      this._failure = new TaskFailedError(ErrorTypes.PROTOCOL_ERROR, `the host delivered ${JSON.stringify(delivered)} for ${this.kind}, not {id, input}`);
      return;
    }
    this._output = new Update(delivered.id, this.name, delivered.input);
  }
}

const LOG_LEVELS = { debug: "debug", info: "info", warn: "warn", error: "error" };

/**
 * What an orchestrator receives as its first argument. Names follow Durable Functions'
 * JavaScript SDK; `callActivity` and `callSubOrchestrator` block and return the output (no
 * `yield`), and their `schedule*` twins return a Task at once, for fan-out and races.
 */
export class OrchestrationContext {
  constructor(input) {
    this._input = input;
  }

  /** The orchestrator's input (also its second argument). */
  getInput() {
    return this._input;
  }

  get instanceId() {
    return orchestration.instanceId();
  }

  /** True while re-executing steps already in history; never use it to change decisions. */
  get isReplaying() {
    return orchestration.isReplaying();
  }

  /** The logical time in milliseconds since the epoch (the same on every replay). */
  get currentTimeMs() {
    return Number(orchestration.currentTime());
  }

  /** The logical time as a Date. */
  get currentUtcDateTime() {
    return new Date(this.currentTimeMs);
  }

  /** A UUID that is unique and the same on every replay. */
  newGuid() {
    return orchestration.newGuid();
  }

  /**
   * Which version of the change `changeId` this instance runs, `max` being the newest this code
   * knows: `max` for an instance that reaches the call for the first time (recorded in its
   * history), the recorded answer on replay, 0 for a history written by code from before the
   * change, which takes the old path.
   */
  version(changeId, max) {
    return orchestration.version(changeId, max);
  }

  /** Sets the custom status (any JSON value); `null` or `undefined` clears it. */
  setCustomStatus(status) {
    orchestration.setCustomStatus(status === null || status === undefined ? undefined : encode(status, "the custom status"));
  }

  /** Writes a line to the host's log (`level`: debug, info, warn or error), once. */
  log(level, message) {
    const wire = LOG_LEVELS[level];
    if (wire === undefined) throw new TypeError(`unknown log level ${level}: use debug, info, warn or error`);
    orchestration.log(wire, String(message));
  }

  /**
   * Schedules the named activity (exported by any component the host loaded, in any language)
   * and returns its Task at once. `options.retry` is a RetryPolicy; `options.timeoutMs` bounds
   * each attempt (an attempt that runs longer fails with `TimedOut`).
   */
  scheduleActivity(name, input = null, options = {}) {
    const payload = encode(input, `the input of activity '${name}'`);
    const { retry, timeoutMs } = options;
    let id;
    if (retry === undefined && timeoutMs === undefined) {
      id = orchestration.scheduleActivity(name, payload);
    } else {
      const wire = { retry: retry === undefined ? undefined : retry.toWire(), timeoutMs: timeoutMs === undefined ? undefined : toMs(timeoutMs, "timeoutMs") };
      id = orchestration.scheduleActivityWithOptions(name, payload, wire);
    }
    return new Task(id, `activity '${name}'`);
  }

  /** Runs the named activity and returns its output, or throws a TaskFailedError. */
  callActivity(name, input = null, options = {}) {
    return this.scheduleActivity(name, input, options).result();
  }

  /** `callActivity(name, input, { retry })`, in Durable Functions' argument order. */
  callActivityWithRetry(name, retry, input = null) {
    return this.callActivity(name, input, { retry });
  }

  /** Starts the named orchestrator as a child instance and returns its Task at once. */
  scheduleSubOrchestrator(name, input = null, { instanceId, retry } = {}) {
    const payload = encode(input, `the input of sub-orchestration '${name}'`);
    const options = { instanceId: instanceId ?? undefined, retry: retry === undefined ? undefined : retry.toWire() };
    return new Task(orchestration.scheduleSubOrchestration(name, payload, options), `sub-orchestration '${name}'`);
  }

  /** Runs the named orchestrator as a child instance and returns its output. */
  callSubOrchestrator(name, input = null, options = {}) {
    return this.scheduleSubOrchestrator(name, input, options).result();
  }

  /** Restarts the instance with `input` and an empty history once the orchestrator returns. */
  continueAsNew(input, carryUnprocessedEvents = false) {
    orchestration.continueAsNew(encode(input, "the input of continueAsNew"), carryUnprocessedEvents);
  }

  /**
   * A durable timer: `fireAt` is a Date (absolute) or a number of milliseconds from the current
   * logical time. Its output is the fire time in milliseconds.
   */
  createTimer(fireAt) {
    const at = fireAt instanceof Date ? BigInt(Math.max(0, fireAt.getTime())) : BigInt(this.currentTimeMs) + toMs(fireAt, "a timer's delay");
    return new Task(orchestration.scheduleTimer(at), `timer firing at ${at}`);
  }

  /** A Task that completes with the data of the next event `name` raised on this instance. */
  waitForExternalEvent(name) {
    return new Task(orchestration.waitForEvent(name), `event '${name}'`);
  }

  /**
   * A Task that completes with the next update `name` sent to this instance (`reprise update ID
   * NAME`, `POST .../instances/{id}/update/{name}`), as an Update. Updates sent before anyone
   * waits are buffered, oldest first, and each completes one wait. Answer each with
   * `replyUpdate`; one the execution never answers (it finishes, or continues as new, first) is
   * reported to its caller as `Unanswered`.
   */
  waitForUpdate(name) {
    return new UpdateTask(orchestration.waitForUpdate(name), name);
  }

  /**
   * Answers `update` (an Update, or its id) with `output`, or, with `{ failure }` (any thrown
   * value, turned into a failure as a throwing activity's is), with a failure: the caller
   * receives it once this episode commits, and the orchestration goes on either way. Each
   * update is answered once: a second answer, or one to an update not received, ends the
   * execution with `GuestTrapped`. An output without a JSON form throws `InvalidOutput` and
   * answers nothing.
   */
  replyUpdate(update, output = null, { failure } = {}) {
    const id = update instanceof Update ? update.id : update;
    if (failure !== undefined) {
      orchestration.replyUpdate(id, { tag: "err", val: Failure.from(failure).toWire() });
      return;
    }
    let json;
    try {
      json = JSON.stringify(output === undefined ? null : output);
    } catch (error) {
      throw new Failure(ErrorTypes.INVALID_OUTPUT, `the answer to update '${id}' could not be encoded to JSON: ${error.message}`);
    }
    if (json === undefined) throw new Failure(ErrorTypes.INVALID_OUTPUT, `the answer to update '${id}' (a ${typeof output}) has no JSON form`);
    orchestration.replyUpdate(id, { tag: "ok", val: json });
  }

  /** Raises the event `name` on another instance, once this episode commits. */
  raiseEvent(instanceId, name, data = null) {
    orchestration.raiseEvent(instanceId, name, encode(data, `the data of event '${name}'`));
  }

  /**
   * Sends `operation` with `input` to the entity `entityId` and returns its Task at once; it
   * completes with the operation's output, or fails with `EntityOperationFailed` (the
   * operation's own failure as its cause).
   */
  scheduleEntityCall(entityId, operation, input = null) {
    const payload = encode(input, `the input of operation '${operation}' on ${entityId}`);
    return new Task(orchestration.callEntity(entityId.toWire(), operation, payload), `operation '${operation}' on ${entityId}`);
  }

  /** Calls an entity operation and returns its output (Durable Functions' `callEntity`). */
  callEntity(entityId, operation, input = null) {
    return this.scheduleEntityCall(entityId, operation, input).result();
  }

  /** Sends an entity operation one way, once this episode commits (`signalEntity`). */
  signalEntity(entityId, operation, input = null) {
    orchestration.signalEntity(entityId.toWire(), operation, encode(input, `the input of operation '${operation}' on ${entityId}`));
  }

  /**
   * Enters a critical section over `entityIds` (Durable Functions' `lock`): returns once all
   * their locks are held, with an object whose `unlock()` releases them (they are released
   * anyway when the orchestration ends). Inside, only these entities may be called.
   */
  lock(entityIds) {
    const names = entityIds.map(String).join(", ");
    new Task(orchestration.lockEntities(entityIds.map((id) => id.toWire())), `locks of [${names}]`).result();
    let held = true;
    return {
      unlock() {
        if (held) {
          held = false;
          orchestration.unlockEntities();
        }
      },
    };
  }

  /**
   * Waits for every task (one `wait-all` host call): fan-in. Returns the outputs in order, or
   * throws the first failure (in the order of `tasks`) once all have completed. With
   * `{ settle: true }` it returns `{ ok: true, value }` / `{ ok: false, error }` per task instead.
   */
  taskAll(tasks, { settle = false } = {}) {
    const pending = tasks.filter((task) => !task.isCompleted);
    if (pending.length > 0) {
      const completions = orchestration.waitAll(pending.map((task) => task.id));
      if (completions.length !== pending.length) {
        throw new Failure(ErrorTypes.PROTOCOL_ERROR, `the host delivered ${completions.length} completions for ${pending.length} awaited tasks`);
      }
      pending.forEach((task, i) => task._complete(completions[i].outcome));
    }
    if (settle) {
      return tasks.map((task) => (task.isFailed ? { ok: false, error: task._failure } : { ok: true, value: task._output }));
    }
    const failed = tasks.find((task) => task.isFailed);
    if (failed !== undefined) throw failed._failure;
    return tasks.map((task) => task._output);
  }

  /**
   * Waits until one task has completed (one `wait-any` host call) and returns it (the earliest
   * in `tasks` on a tie); its `result()` returns at once. The timeout pattern is
   * `ctx.taskAny([work, ctx.createTimer(30_000)])`.
   */
  taskAny(tasks) {
    if (tasks.length === 0) throw new TypeError("taskAny needs at least one task to wait for");
    const completion = orchestration.waitAny(tasks.map((task) => task.id));
    const winner = tasks.find((task) => task.id === completion.task);
    if (winner === undefined) {
      throw new Failure(ErrorTypes.PROTOCOL_ERROR, `the host delivered task ${completion.task}, which was not awaited`);
    }
    if (!winner.isCompleted) winner._complete(completion.outcome);
    return winner;
  }
}

/** What an activity receives as its first argument: which attempt of which task it runs. */
export class ActivityContext {
  get instanceId() {
    return activityContext.instanceId();
  }

  get taskId() {
    return activityContext.taskId();
  }

  get attempt() {
    return activityContext.attempt();
  }

  /** The same for every attempt of this task: pass it to external systems. */
  get idempotencyKey() {
    return activityContext.idempotencyKey();
  }
}

/**
 * What an entity function receives: the operation to run and the entity's state, in Durable
 * Functions' shape (`ctx.operationName`, `ctx.getState(() => 0)`, `ctx.setState(v)`,
 * `ctx.return(v)`). Entities run deterministically, like orchestrators; their signals and
 * started orchestrations are kept only if the operation succeeds.
 */
export class EntityContext {
  constructor(entityName, operationName, input, state) {
    this.entityName = entityName;
    this.operationName = operationName;
    this._input = input;
    this._state = state;
    this._hasResult = false;
    this._result = null;
  }

  /** The entity's key. */
  get entityKey() {
    return entityContext.id().key;
  }

  /** The operation's input. */
  getInput() {
    return this._input;
  }

  /** The entity's state; with no state yet, `initializer()` (or undefined). */
  getState(initializer) {
    if (this._state === undefined && typeof initializer === "function") this._state = initializer();
    return this._state;
  }

  /** Sets the entity's state (any JSON value). */
  setState(state) {
    this._state = state;
  }

  /** Deletes the entity once the operation succeeds. */
  deleteState() {
    this._state = undefined;
  }

  /** Sets the operation's output (otherwise the function's return value is). */
  return(value) {
    this._hasResult = true;
    this._result = value;
  }

  /** The batch's logical time as a Date. */
  get currentUtcDateTime() {
    return new Date(Number(entityContext.currentTime()));
  }

  /** A UUID derived from the entity and its operation count. */
  newGuid() {
    return entityContext.newGuid();
  }

  /** Writes a line to the host's log, tagged with the entity. */
  log(level, message) {
    const wire = LOG_LEVELS[level];
    if (wire === undefined) throw new TypeError(`unknown log level ${level}: use debug, info, warn or error`);
    entityContext.log(wire, String(message));
  }

  /** Sends an operation to an entity, one way, if this operation succeeds. */
  signalEntity(entityId, operation, input = null) {
    entityContext.signalEntity(entityId.toWire(), operation, encode(input, `the input of operation '${operation}' on ${entityId}`));
  }

  /** Starts an orchestration if this operation succeeds; returns its instance id. */
  startNewOrchestration(name, input = null, instanceId = undefined) {
    return entityContext.startOrchestration(name, encode(input, `the input of orchestrator '${name}'`), instanceId);
  }
}

const registered = { orchestrator: new Map(), activity: new Map(), entity: new Map(), validator: new Map() };

function register(kind, name, fn) {
  if (typeof name !== "string" || typeof fn !== "function") {
    throw new TypeError(`${kind}(name, function) needs a name and a function`);
  }
  if (registered[kind].has(name)) throw new Error(`two ${kind}s are named '${name}'`);
  registered[kind].set(name, fn);
}

/** Registers an orchestrator `fn(ctx, input) -> output` under `name`. */
export function orchestrator(name, fn) {
  register("orchestrator", name, fn);
}

/**
 * Registers an activity `fn(ctx, input) -> output` under `name`; `fn` may be `async` (and await
 * `fetch`), its promise settling the attempt.
 */
export function activity(name, fn) {
  register("activity", name, fn);
}

/**
 * Registers an entity type `fn(ctx)` under `name`: it runs one operation (`ctx.operationName`)
 * on the state (`ctx.getState`, `ctx.setState`); its output is `ctx.return(v)`'s value or what
 * it returns. Throwing fails the operation and leaves the state as it was.
 */
export function entity(name, fn) {
  register("entity", name, fn);
}

/**
 * Registers `fn(check, input)` as the validator of the updates named `update`. The host calls it
 * before it records such an update, in a fresh instance of the component (the deterministic
 * sandbox of entities): throwing refuses the update, and the caller receives the failure (a
 * Failure keeps its type; another error is named after its class); returning nothing accepts it.
 * `check` is `{ orchestrator, customStatus }`: the orchestrator's name and its custom status
 * (parsed), not its variables. Updates without a validator are accepted.
 */
export function updateValidator(update, fn) {
  if (typeof update !== "string" || typeof fn !== "function") {
    throw new TypeError("updateValidator(update, function) needs the update's name and a function");
  }
  if (registered.validator.has(update)) throw new Error(`two validators check the update '${update}': an update has at most one`);
  registered.validator.set(update, fn);
}

/** Runs the validator of `update`, if there is one; throws the refusal as the WIT record. */
function validate(orchestrator, update, payload, customStatus) {
  try {
    const fn = registered.validator.get(update);
    if (fn === undefined) return;
    let input;
    let status;
    try {
      input = JSON.parse(payload);
    } catch (error) {
      throw new Failure(ErrorTypes.INVALID_INPUT, `the input of update '${update}' is not JSON: ${error.message}`);
    }
    try {
      status = customStatus === undefined || customStatus === null ? undefined : JSON.parse(customStatus);
    } catch (error) {
      throw new Failure(ErrorTypes.INVALID_STATE, `the instance's custom status is not JSON: ${error.message}`);
    }
    const verdict = fn(Object.freeze({ orchestrator, customStatus: status }), input);
    // `return false` reads like a refusal: refuse rather than accept by mistake.
    if (verdict !== undefined) {
      throw new Failure(
        ErrorTypes.INVALID_OUTPUT,
        `the validator of update '${update}' returned ${JSON.stringify(verdict) ?? String(verdict)}: a validator refuses by throwing a Failure and accepts by returning nothing`,
      );
    }
  } catch (error) {
    throw Failure.from(error).toWire();
  }
}

function runEntity(name, operation, payload, stored) {
  try {
    const fn = registered.entity.get(name);
    if (fn === undefined) {
      const known = [...registered.entity.keys()].sort().join(", ") || "none";
      throw new Failure(ErrorTypes.UNKNOWN_FUNCTION, `this component has no entity named '${name}' (it has: ${known})`);
    }
    let input;
    let state;
    try {
      input = JSON.parse(payload);
    } catch (error) {
      throw new Failure(ErrorTypes.INVALID_INPUT, `invalid input for operation '${operation}' of entity '${name}': ${error.message}`);
    }
    try {
      state = stored === undefined || stored === null ? undefined : JSON.parse(stored);
    } catch (error) {
      throw new Failure(ErrorTypes.INVALID_STATE, `the stored state of entity '${name}' is not JSON: ${error.message}`);
    }
    const ctx = new EntityContext(name, operation, input, state);
    const returned = fn(ctx, input);
    if (returned !== null && typeof returned === "object" && typeof returned.then === "function") {
      throw new Failure(ErrorTypes.INVALID_OUTPUT, `entity '${name}' returned a Promise: operations are synchronous here`);
    }
    const output = ctx._hasResult ? ctx._result : returned;
    const json = JSON.stringify(output === undefined ? null : output);
    if (json === undefined) {
      throw new Failure(ErrorTypes.INVALID_OUTPUT, `the output of operation '${operation}' has no JSON form`);
    }
    return { state: ctx._state === undefined ? undefined : JSON.stringify(ctx._state), output: json };
  } catch (error) {
    throw Failure.from(error).toWire();
  }
}

function encodeOutput(kind, name, output) {
  let json;
  try {
    json = JSON.stringify(output === undefined ? null : output);
  } catch (error) {
    throw new Failure(ErrorTypes.INVALID_OUTPUT, `the output of ${kind} '${name}' could not be encoded to JSON: ${error.message}`);
  }
  if (json === undefined) {
    throw new Failure(ErrorTypes.INVALID_OUTPUT, `the output of ${kind} '${name}' (a ${typeof output}) has no JSON form`);
  }
  return json;
}

// A thrown value is the export's `err`: every failure reaches the host as a WIT record.
function toWireFailure(error) {
  throw Failure.from(error).toWire();
}

function run(kind, name, payload, makeContext) {
  const fn = registered[kind].get(name);
  if (fn === undefined) {
    const known = [...registered[kind].keys()].sort().join(", ") || "none";
    toWireFailure(new Failure(ErrorTypes.UNKNOWN_FUNCTION, `this component has no ${kind} named '${name}' (it has: ${known})`));
  }
  return invoke(kind, name, fn, payload, makeContext);
}

function invoke(kind, name, fn, payload, makeContext) {
  try {
    let input;
    try {
      input = JSON.parse(payload);
    } catch (error) {
      throw new Failure(ErrorTypes.INVALID_INPUT, `invalid input for ${kind} '${name}': ${error.message}`);
    }
    const output = fn(makeContext(input), input);
    if (output !== null && typeof output === "object" && typeof output.then === "function") {
      if (kind !== "activity") {
        throw new Failure(ErrorTypes.INVALID_OUTPUT, `${kind} '${name}' returned a Promise: durable functions are synchronous here (callActivity blocks)`);
      }
      // An async activity (one that awaits `fetch`): componentize-js runs the event loop until
      // the export's promise settles, and its rejection is the export's `err`.
      return output.then((value) => encodeOutput(kind, name, value)).catch(toWireFailure);
    }
    return encodeOutput(kind, name, output);
  } catch (error) {
    toWireFailure(error);
  }
}

const CONTEXTS = {
  orchestrator: (value) => new OrchestrationContext(value),
  activity: () => new ActivityContext(),
};

/**
 * Runs `fn` as the component's export runs the registered function `name` of `kind`
 * (`"orchestrator"` or `"activity"`): the same input decoding, context, output encoding and
 * failures (thrown as the WIT record). The test harness (testing.js) runs the functions a test
 * hands it through here, so that they run exactly as registered ones do.
 */
export function runAs(kind, name, fn, payload) {
  return invoke(kind, name, fn, payload, CONTEXTS[kind]);
}

/**
 * The component's exports: `export const { orchestrators, activities, entities,
 * updateValidators } = exports;` in the guest's main module.
 */
export const exports = Object.freeze({
  updateValidators: {
    validate: (orchestrator, update, input, customStatus) => validate(orchestrator, update, input, customStatus),
  },
  entities: {
    names: () => [...registered.entity.keys()],
    run: (name, operation, input, state) => runEntity(name, operation, input, state),
  },
  orchestrators: {
    names: () => [...registered.orchestrator.keys()],
    run: (name, input) => run("orchestrator", name, input, CONTEXTS.orchestrator),
  },
  activities: {
    names: () => [...registered.activity.keys()],
    run: (name, input) => run("activity", name, input, CONTEXTS.activity),
  },
});
