// Reprise's guest SDK for JavaScript: durable orchestrators and activities as plain functions.
//
// A guest module registers its functions and exports what the component model calls:
//
//     import { orchestrator, activity, exports } from "../../guest-sdk/js/reprise.js";
//
//     orchestrator("hello", (ctx, name) => ctx.callActivity("greet", name));
//     activity("greet", (ctx, name) => `Hello, ${name}!`);
//
//     export const { orchestrators, activities } = exports;
//
// The component is built by componentize-js against the world `app` of wit/durable.wit.
// Inputs and outputs are JSON documents. This module owns the JavaScript idioms only: every
// durable decision goes through the host's `orchestration` interface (answered from history on
// replay), and it never reads a real clock or a real random source. Blocking calls
// (`Task.result`, `taskAll`, `taskAny`) are single `wait-any` / `wait-all` host calls: the host
// parks the instance, or stops it and replays it later.

import * as orchestration from "reprise:durable/orchestration@0.1.0";
import * as activityContext from "reprise:durable/activity-context@0.1.0";

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
});

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

  /** Raises the event `name` on another instance, once this episode commits. */
  raiseEvent(instanceId, name, data = null) {
    orchestration.raiseEvent(instanceId, name, encode(data, `the data of event '${name}'`));
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

const registered = { orchestrator: new Map(), activity: new Map() };

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

/** Registers an activity `fn(ctx, input) -> output` under `name`. */
export function activity(name, fn) {
  register("activity", name, fn);
}

function run(kind, name, payload, makeContext) {
  try {
    const fn = registered[kind].get(name);
    if (fn === undefined) {
      const known = [...registered[kind].keys()].sort().join(", ") || "none";
      throw new Failure(ErrorTypes.UNKNOWN_FUNCTION, `this component has no ${kind} named '${name}' (it has: ${known})`);
    }
    let input;
    try {
      input = JSON.parse(payload);
    } catch (error) {
      throw new Failure(ErrorTypes.INVALID_INPUT, `invalid input for ${kind} '${name}': ${error.message}`);
    }
    const output = fn(makeContext(input), input);
    if (output !== null && typeof output === "object" && typeof output.then === "function") {
      throw new Failure(ErrorTypes.INVALID_OUTPUT, `${kind} '${name}' returned a Promise: durable functions are synchronous here (callActivity blocks)`);
    }
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
  } catch (error) {
    // A thrown value is the export's `err`: every failure reaches the host as a WIT record.
    throw Failure.from(error).toWire();
  }
}

/**
 * The component's exports: `export const { orchestrators, activities } = exports;` in the
 * guest's main module.
 */
export const exports = Object.freeze({
  orchestrators: {
    names: () => [...registered.orchestrator.keys()],
    run: (name, input) => run("orchestrator", name, input, (value) => new OrchestrationContext(value)),
  },
  activities: {
    names: () => [...registered.activity.keys()],
    run: (name, input) => run("activity", name, input, () => new ActivityContext()),
  },
});
