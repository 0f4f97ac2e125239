// The host's replay engine (host/core/src/replay/replayer.rs), in JavaScript, for the test
// harness (../testing.js): the same state machine, event for event, so that an orchestrator run
// here records the history the host would record and a recorded history replays here as it
// replays on the host, with the host's nondeterminism messages.
//
// Events are plain objects in the host's serde shape (`{seq, type, ...fields}`), payloads as
// JSON text and times as numbers (milliseconds), as in an export bundle. Failures are in the
// host's shape (`error_type`, `message`, `details`, `causes`).
//
// What it leaves out, and why: history limits (a test history never nears them); rewound
// histories (`ExecutionRewound` rearranges what replay reads; `replay` refuses them rather
// than replay them wrongly); entities (the harness does not run entities, see ../testing.js).

import { instanceIdError } from "./host-rules.js";

/** A refusal of the replay engine, with the host's message. `kind` names the host's variant. */
export class ReplayError extends Error {
  constructor(kind, message, fields = {}) {
    super(message);
    this.name = "ReplayError";
    this.kind = kind;
    Object.assign(this, fields);
  }
}

function nondeterminism(position, recorded, issued) {
  const message =
    `nondeterminism at history position ${position}: the history records that the orchestrator did [${recorded}], ` +
    `but on replay it did [${issued}]; the orchestrator's code changed under a running instance, or depends on ` +
    "something the host does not record";
  return new ReplayError("Nondeterminism", message, { position, recorded, issued });
}

const corrupt = (what) => new ReplayError("CorruptHistory", `corrupt history: ${what}`);

/** The end of recorded history, described as `END_OF_HISTORY` of command.rs. */
const END_OF_HISTORY = "wait for a task that had not completed (end of recorded history)";

/** The description of a wait that is not answered, as `Command::Wait`. */
const WAIT = "wait for a task that has not completed";

/** A failure in the host's shape, dropping absent fields as serde does. */
export function hostFailure(errorType, message, details, causes = []) {
  const failure = { error_type: errorType, message };
  if (details !== undefined && details !== null) failure.details = details;
  if (causes.length > 0) failure.causes = causes;
  return failure;
}

/** `Failure::wrapping`: `inner` becomes the first cause, its own causes follow it. */
export function wrapping(errorType, message, inner) {
  const first = { error_type: inner.error_type, message: inner.message };
  if (inner.details !== undefined) first.details = inner.details;
  return hostFailure(errorType, message, undefined, [first, ...(inner.causes ?? [])]);
}

/** `Failure::activity_failed`: what the orchestrator receives when activity `name` fails. */
export function activityFailed(name, inner) {
  return wrapping("ActivityFailed", `activity '${name}' failed: ${inner.message}`, inner);
}

/** How a command is described to the user: `impl Display for Command` of command.rs. */
export function describeCommand(event) {
  switch (event.type) {
    case "ActivityScheduled":
      return `schedule activity '${event.name}'`;
    case "SubOrchestrationScheduled":
      return `start sub-orchestration '${event.name}'`;
    case "ExecutionContinuedAsNew":
      return "continue as new";
    case "TimerScheduled":
      return "schedule a timer";
    case "EventWaitStarted":
      return `wait for event '${event.name}'`;
    case "UpdateWaitStarted":
      return `wait for update '${event.name}'`;
    case "UpdateReplied":
      return `answer update '${event.update_id}'`;
    case "EventSent":
      return `raise event '${event.name}' on instance '${event.instance_id}'`;
    case "ExecutionCompleted":
      return "complete the orchestration";
    case "ExecutionFailed":
      return "fail the orchestration";
    default:
      return undefined;
  }
}

/** How a recorded event is described in a nondeterminism error: `describe_recorded`. */
function describeRecorded(event) {
  switch (event.type) {
    case "ActivityScheduled":
      return `schedule activity '${event.name}' (task ${event.task_id})`;
    case "TimerScheduled":
      return `schedule a timer (task ${event.task_id})`;
    case "SubOrchestrationScheduled":
      return `start sub-orchestration '${event.name}' (task ${event.task_id})`;
    case "ExecutionContinuedAsNew":
      return "continue as new";
    case "EventWaitStarted":
      return `wait for event '${event.name}' (task ${event.task_id})`;
    case "UpdateWaitStarted":
      return `wait for update '${event.name}' (task ${event.task_id})`;
    case "UpdateReplied":
      return `answer update '${event.update_id}'`;
    case "EventSent":
      return `raise event '${event.name}' on instance '${event.instance_id}'`;
    case "EntityCalled":
      return `call operation '${event.operation}' on entity @${event.entity.name}@${event.entity.key} (task ${event.task_id})`;
    case "EntitySignaled":
      return `signal operation '${event.operation}' on entity @${event.entity.name}@${event.entity.key}`;
    case "EntityLockRequested":
      return `lock entities [${event.entities.map((e) => `@${e.name}@${e.key}`).join(", ")}] (task ${event.task_id})`;
    case "EntitiesUnlocked":
      return "release the locks of its critical section";
    case "VersionMarked":
      return `choose version ${event.version} of change '${event.change_id}'`;
    case "EpisodeStarted":
      return "wait for a task that had not completed";
    case "ExecutionCompleted":
      return "complete the orchestration";
    case "ExecutionFailed":
      return "fail the orchestration";
    default:
      return `event ${event.type}`;
  }
}

/** Events recorded as delivered at the start of an episode (`is_delivery`). */
const DELIVERIES = new Set([
  "ExecutionStarted",
  "ActivityCompleted",
  "ActivityFailed",
  "ActivityRetrying",
  "HttpRequestsMade",
  "SubOrchestrationCompleted",
  "SubOrchestrationFailed",
  "SubOrchestrationRetrying",
  "TimerFired",
  "EventRaised",
  "UpdateReceived",
  "EntityCompleted",
  "EntityFailed",
  "ExecutionSuspended",
  "ExecutionResumed",
  "ExecutionRewound",
  "ComponentUpgraded",
]);

/** What a wait for an update completes with (`DeliveredUpdate::to_payload`): its id and input. */
function deliveredUpdate(id, input) {
  return `{"id":${JSON.stringify(id)},"input":${input}}`;
}

/** `same_command`: kinds, task ids and names must match; inputs, times and data may change. */
function sameCommand(issued, recorded) {
  if (issued.type !== recorded.type) return false;
  switch (issued.type) {
    case "ActivityScheduled":
    case "SubOrchestrationScheduled":
    case "EventWaitStarted":
    case "UpdateWaitStarted":
      return issued.task_id === recorded.task_id && issued.name === recorded.name;
    case "UpdateReplied":
      return issued.update_id === recorded.update_id;
    case "TimerScheduled":
      return issued.task_id === recorded.task_id;
    case "EventSent":
      return issued.instance_id === recorded.instance_id && issued.name === recorded.name;
    case "ExecutionContinuedAsNew":
    case "ExecutionCompleted":
    case "ExecutionFailed":
      return true;
    default:
      return false;
  }
}

/** The answer to a wait that nothing delivered so far satisfies. */
export const PENDING = Symbol("pending");

/**
 * The replay state of one execution of one instance: `Replayer` of replayer.rs. Messages are
 * objects shaped as the events that record them (`{type: "ActivityCompleted", task_id,
 * output}`), plus `{type: "Start", name, input}`.
 */
export class Replayer {
  constructor(instanceId, execution, component, history) {
    history.forEach((event, index) => {
      if (event.seq !== index) throw corrupt(`event at index ${index} has sequence number ${event.seq}`);
    });
    if (history.length > 0 && history[0].type !== "EpisodeStarted") {
      throw corrupt(`history starts with ${history[0].type} instead of EpisodeStarted`);
    }
    if (history.some((event) => event.type === "ExecutionRewound")) {
      throw new ReplayError(
        "Unsupported",
        "the JavaScript test harness does not replay rewound histories (ExecutionRewound): replay them with `reprise replay`",
      );
    }
    this.instanceId = instanceId;
    this.execution = execution;
    this.component = component;
    this.recorded = history.slice();
    this.pending = [];
    this.newEvents = [];
    this.takenLen = history.length;
    this.position = 0;
    this.live = false;
    this.started = undefined;
    this.now = 0;
    this.scheduled = [];
    this.eventWaits = [];
    this.bufferedEvents = new Map();
    this.arrivals = 0;
    this.eventResults = new Map();
    this.updateWaits = [];
    /** Updates delivered before anyone waited, per name: `[{id, input}]`, oldest first. */
    this.bufferedUpdates = new Map();
    /** The updates delivered in this execution, by id: whether each has been answered. */
    this.updates = new Map();
    this.observed = new Set();
    this.results = new Map();
    this.deliveries = 0;
    this.guids = 0;
    this.customStatus = undefined;
    this.continueAsNew = undefined;
    this.terminal = undefined;
    this.versions = new Map();
  }

  get isReplaying() {
    return !this.live;
  }

  /** Queues an episode of new messages at logical time `time`. */
  deliver(time, messages) {
    this.pending.push({ time, messages });
  }

  /** Opens the next episode: "Replayed", "Live" or "Blocked". */
  advance() {
    this.ensureRunning();
    const next = this.recorded[0];
    if (next !== undefined) {
      if (next.type !== "EpisodeStarted") throw nondeterminism(next.seq, describeRecorded(next), WAIT);
      this.openRecordedEpisode();
      return "Replayed";
    }
    const episode = this.pending.shift();
    if (episode === undefined) return "Blocked";
    this.openLiveEpisode(episode);
    return "Live";
  }

  openRecordedEpisode() {
    const header = this.recorded.shift();
    this.position += 1;
    this.now = Math.max(header.time, this.now);
    while (this.recorded.length > 0 && DELIVERIES.has(this.recorded[0].type)) {
      const event = this.recorded.shift();
      this.position += 1;
      this.applyDelivery(event);
    }
  }

  openLiveEpisode(episode) {
    this.live = true;
    this.now = Math.max(episode.time, this.now);
    this.push({ type: "EpisodeStarted", time: this.now });
    for (const message of episode.messages) {
      const event = this.messageToEvent(message);
      if (event !== undefined) {
        this.applyDelivery(event);
        this.push(event);
      }
    }
  }

  /** `message_to_event`: the event recording a message, or undefined for one dropped. */
  messageToEvent(message) {
    const { task_id: taskId } = message;
    const pending = () => (this.results.has(taskId) ? undefined : this.scheduled[taskId]);
    switch (message.type) {
      case "Start":
        return this.started === undefined
          ? { type: "ExecutionStarted", name: message.name, input: message.input, component: this.component }
          : undefined;
      case "ActivityCompleted":
        return pending() !== undefined ? { type: "ActivityCompleted", task_id: taskId, output: message.output } : undefined;
      case "ActivityFailed": {
        const task = pending();
        return task?.kind === "activity"
          ? { type: "ActivityFailed", task_id: taskId, failure: activityFailed(task.name, message.failure) }
          : undefined;
      }
      case "ActivityRetrying":
        return pending()?.kind === "activity" ? { ...message } : undefined;
      case "SubOrchestrationCompleted":
        return pending()?.kind === "sub-orchestration"
          ? { type: "SubOrchestrationCompleted", task_id: taskId, output: message.output }
          : undefined;
      case "SubOrchestrationFailed": {
        const task = pending();
        if (task?.kind !== "sub-orchestration") return undefined;
        const text = `sub-orchestration '${task.name}' (instance ${task.instanceId}) failed: ${message.failure.message}`;
        return { type: "SubOrchestrationFailed", task_id: taskId, failure: wrapping("SubOrchestrationFailed", text, message.failure) };
      }
      case "SubOrchestrationRetrying":
        return pending()?.kind === "sub-orchestration" ? { ...message } : undefined;
      case "TimerFired":
        return pending()?.kind === "timer" ? { type: "TimerFired", task_id: taskId } : undefined;
      case "EventRaised":
        return { type: "EventRaised", name: message.name, data: message.data };
      case "UpdateRequested":
        // An id the execution already received is the same update sent again: recorded once.
        return this.updates.has(message.update_id)
          ? undefined
          : { type: "UpdateReceived", update_id: message.update_id, name: message.name, input: message.input };
      default:
        throw new Error(`the test harness cannot deliver a ${message.type} message`);
    }
  }

  applyDelivery(event) {
    switch (event.type) {
      case "ExecutionStarted":
        this.started = { name: event.name, input: event.input };
        return;
      case "ActivityCompleted":
      case "SubOrchestrationCompleted":
      case "EntityCompleted":
        return this.recordResult(event.task_id, { ok: event.output });
      case "ActivityFailed":
      case "SubOrchestrationFailed":
      case "EntityFailed":
        return this.recordResult(event.task_id, { err: event.failure });
      case "TimerFired": {
        const task = this.scheduled[event.task_id];
        if (task?.kind !== "timer") throw corrupt(`task ${event.task_id} fired but is not a timer`);
        return this.recordResult(event.task_id, { ok: String(task.fireAt) });
      }
      case "EventRaised": {
        this.arrivals += 1;
        const index = this.eventWaits.findIndex((wait) => wait.name === event.name);
        if (index >= 0) {
          const [{ taskId }] = this.eventWaits.splice(index, 1);
          this.eventResults.set(taskId, { arrival: this.arrivals, name: event.name, data: event.data });
          return this.recordResult(taskId, { ok: event.data });
        }
        const queue = this.bufferedEvents.get(event.name) ?? [];
        queue.push({ arrival: this.arrivals, data: event.data });
        this.bufferedEvents.set(event.name, queue);
        return;
      }
      case "UpdateReceived": {
        this.updates.set(event.update_id, false);
        const index = this.updateWaits.findIndex((wait) => wait.name === event.name);
        if (index >= 0) {
          const [{ taskId }] = this.updateWaits.splice(index, 1);
          return this.recordResult(taskId, { ok: deliveredUpdate(event.update_id, event.input) });
        }
        const queue = this.bufferedUpdates.get(event.name) ?? [];
        queue.push({ id: event.update_id, input: event.input });
        this.bufferedUpdates.set(event.name, queue);
        return;
      }
      case "ActivityRetrying":
      case "HttpRequestsMade":
      case "SubOrchestrationRetrying":
      case "ExecutionSuspended":
      case "ExecutionResumed":
      case "ComponentUpgraded":
        return;
      default:
        throw corrupt(`${event.type} is not a delivery`);
    }
  }

  recordResult(taskId, outcome) {
    if (taskId >= this.scheduled.length) throw corrupt(`result for task ${taskId}, which was never scheduled`);
    this.deliveries += 1;
    this.results.set(taskId, { order: this.deliveries, outcome });
  }

  push(event) {
    this.newEvents.push(event);
    this.position += 1;
  }

  ensureRunning() {
    if (this.terminal !== undefined) throw new ReplayError("AlreadyFinished", "the orchestrator already finished");
  }

  /** Checks a command against history while replaying; records it when live. */
  command(event) {
    this.ensureRunning();
    if (this.live) {
      this.push(event);
      return;
    }
    const next = this.recorded[0];
    if (next === undefined) throw nondeterminism(this.position, END_OF_HISTORY, describeCommand(event));
    if (!sameCommand(event, next)) throw nondeterminism(next.seq, describeRecorded(next), describeCommand(event));
    this.recorded.shift();
    this.position += 1;
  }

  scheduleActivity(name, input, options) {
    const taskId = this.scheduled.length;
    const event = { type: "ActivityScheduled", task_id: taskId, name, input };
    if (options !== undefined) event.options = options;
    this.command(event);
    this.scheduled.push({ kind: "activity", name });
    return taskId;
  }

  scheduleSubOrchestration(name, instanceId, input, retry) {
    this.ensureRunning();
    const taskId = this.scheduled.length;
    const child = instanceId ?? `${this.instanceId}:${this.execution}:${taskId}`;
    const refused = instanceId === undefined ? instanceIdError(child) : undefined;
    if (refused !== undefined) throw new ReplayError("InvalidInstanceId", `the sub-orchestration cannot start: ${refused}`);
    const event = { type: "SubOrchestrationScheduled", task_id: taskId, name, instance_id: child, input };
    if (retry !== undefined) event.retry = retry;
    this.command(event);
    this.scheduled.push({ kind: "sub-orchestration", name, instanceId: child });
    return taskId;
  }

  requestContinueAsNew(input, carryEvents) {
    this.ensureRunning();
    this.continueAsNew = { input, carryEvents };
  }

  scheduleTimer(fireAt) {
    const taskId = this.scheduled.length;
    this.command({ type: "TimerScheduled", task_id: taskId, fire_at: fireAt });
    this.scheduled.push({ kind: "timer", fireAt });
    return taskId;
  }

  waitForEvent(name) {
    const taskId = this.scheduled.length;
    this.command({ type: "EventWaitStarted", task_id: taskId, name });
    this.scheduled.push({ kind: "event", name });
    const buffered = this.bufferedEvents.get(name)?.shift();
    if (buffered !== undefined) {
      this.eventResults.set(taskId, { arrival: buffered.arrival, name, data: buffered.data });
      this.recordResult(taskId, { ok: buffered.data });
    } else {
      this.eventWaits.push({ taskId, name });
    }
    return taskId;
  }

  waitForUpdate(name) {
    const taskId = this.scheduled.length;
    this.command({ type: "UpdateWaitStarted", task_id: taskId, name });
    this.scheduled.push({ kind: "update", name });
    const buffered = this.bufferedUpdates.get(name)?.shift();
    if (buffered !== undefined) this.recordResult(taskId, { ok: deliveredUpdate(buffered.id, buffered.input) });
    else this.updateWaits.push({ taskId, name });
    return taskId;
  }

  /** `reply_update`: `reply` is `{output}` (JSON text) or `{failure}`, in the host's shape. */
  replyUpdate(updateId, reply) {
    this.ensureRunning();
    if (this.updates.get(updateId) !== false) {
      throw new ReplayError(
        "UnknownUpdate",
        `the orchestrator answered update '${updateId}', which it has not received or has already answered`,
      );
    }
    this.updates.set(updateId, true);
    this.command({ type: "UpdateReplied", update_id: updateId, reply });
  }

  raiseEvent(instanceId, name, data) {
    this.command({ type: "EventSent", instance_id: instanceId, name, data });
  }

  checkKnown(tasks) {
    const unknown = tasks.find((task) => task >= this.scheduled.length);
    if (unknown !== undefined) {
      throw new ReplayError("UnknownTask", `the orchestrator waited on task ${unknown}, which it never scheduled`);
    }
  }

  /** The first-delivered completion among `tasks`, or PENDING. */
  waitAny(tasks) {
    this.ensureRunning();
    if (tasks.length === 0) {
      throw new ReplayError("EmptyWait", "the orchestrator called wait-any with no tasks: it would wait forever");
    }
    this.checkKnown(tasks);
    let first;
    for (const task of tasks) {
      const delivered = this.results.get(task);
      if (delivered !== undefined && (first === undefined || delivered.order < first.delivered.order)) first = { task, delivered };
    }
    if (first === undefined) return PENDING;
    this.observed.add(first.task);
    return [{ task: first.task, outcome: first.delivered.outcome }];
  }

  /** Every completion of `tasks`, in order, once all have completed; or PENDING. */
  waitAll(tasks) {
    this.ensureRunning();
    this.checkKnown(tasks);
    if (!tasks.every((task) => this.results.has(task))) return PENDING;
    tasks.forEach((task) => this.observed.add(task));
    return tasks.map((task) => ({ task, outcome: this.results.get(task).outcome }));
  }

  /** The n-th name-based UUID of this execution: `new_guid`'s name, hashed by `uuidV5`. */
  guidName() {
    this.guids += 1;
    return `${this.instanceId}/${this.execution}/${this.guids}`;
  }

  setCustomStatus(status) {
    this.customStatus = status;
  }

  /** `version`: `max` when first asked live (recorded), the recorded answer, or 0. */
  version(changeId, max) {
    this.ensureRunning();
    if (this.versions.has(changeId)) return this.versions.get(changeId);
    let version;
    if (this.live) {
      this.push({ type: "VersionMarked", change_id: changeId, version: max });
      version = max;
    } else {
      const next = this.recorded[0];
      if (next?.type === "VersionMarked" && next.change_id === changeId) {
        version = next.version;
        this.recorded.shift();
        this.position += 1;
      } else {
        version = 0;
      }
    }
    this.versions.set(changeId, version);
    return version;
  }

  complete(output) {
    if (this.finishContinued()) return;
    this.command({ type: "ExecutionCompleted", output });
    this.terminal = { status: "Completed", output };
  }

  fail(failure) {
    if (this.finishContinued()) return;
    this.command({ type: "ExecutionFailed", failure });
    this.terminal = { status: "Failed", failure };
  }

  finishContinued() {
    if (this.continueAsNew === undefined) return false;
    const { input, carryEvents } = this.continueAsNew;
    this.continueAsNew = undefined;
    const carried = carryEvents ? this.unprocessedEvents() : [];
    this.command({ type: "ExecutionContinuedAsNew", input });
    this.terminal = { status: "ContinuedAsNew", input, carried };
    return true;
  }

  /** Events received and never seen by the code, in arrival order (`unprocessed_events`). */
  unprocessedEvents() {
    const events = [];
    for (const [name, queue] of this.bufferedEvents) queue.forEach(({ arrival, data }) => events.push({ arrival, name, data }));
    for (const [task, result] of this.eventResults) if (!this.observed.has(task)) events.push(result);
    return events.sort((a, b) => a.arrival - b.arrival).map(({ name, data }) => ({ name, data }));
  }

  /** `abort`: ends the execution with a failure the host decided, unchecked against history. */
  abort(failure) {
    if (this.terminal !== undefined) return;
    if (!this.live) {
      this.position = this.takenLen + this.newEvents.length;
      this.recorded = [];
      this.live = true;
    }
    this.push({ type: "ExecutionFailed", failure });
    this.terminal = { status: "Failed", failure };
  }

  /** The events of the live episodes since the last call, numbered for the history. */
  takeOutput() {
    const base = this.takenLen;
    const events = this.newEvents.splice(0).map((event, index) => ({ seq: base + index, ...event }));
    this.takenLen += events.length;
    return events;
  }
}
