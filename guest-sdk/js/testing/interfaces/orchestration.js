// `reprise:durable/orchestration@0.1.0` under Node: every function of the WIT interface, with
// the names and value types componentize-js gives it, forwarded to the harness (../session.js).

import { binding } from "../session.js";

/** The binding the harness installed for this interface (an error if none is). */
const host = () => binding("orchestration");

/** `instance-id`: the id of the instance being run. */
export const instanceId = () => host().instanceId();
/** `is-replaying`: true while the orchestrator re-executes steps its history records. */
export const isReplaying = () => host().isReplaying();
/** `current-time`: the logical time of the current episode (BigInt ms since the epoch). */
export const currentTime = () => host().currentTime();
/** `new-guid`: the host's name-based UUID, the same on every replay. */
export const newGuid = () => host().newGuid();
/** `version`: which version of change `changeId` to run (`max` when first asked live). */
export const version = (changeId, max) => host().version(changeId, max);
/** `set-custom-status`: the instance's custom status (JSON text), or undefined to clear it. */
export const setCustomStatus = (status) => host().setCustomStatus(status);
/** `log`: a log line, kept once (not on replay) in `run.logs`. */
export const log = (level, message) => host().log(level, message);
/** `schedule-activity`: schedules activity `name` with JSON `input`; returns its task id (BigInt). */
export const scheduleActivity = (name, input) => host().scheduleActivity(name, input);
/** `schedule-activity-with-options`: as `scheduleActivity`, with `{retry, timeoutMs}`. */
export const scheduleActivityWithOptions = (name, input, options) => host().scheduleActivityWithOptions(name, input, options);
/** `schedule-sub-orchestration`: starts orchestrator `name` as a child (`{instanceId, retry}`); returns its task id. */
export const scheduleSubOrchestration = (name, input, options) => host().scheduleSubOrchestration(name, input, options);
/** `continue-as-new`: restarts the instance with `input` once the orchestrator returns. */
export const continueAsNew = (input, carry) => host().continueAsNew(input, carry);
/** `schedule-timer`: a durable timer that fires at `fireAt` (BigInt ms); returns its task id. */
export const scheduleTimer = (fireAt) => host().scheduleTimer(fireAt);
/** `wait-for-event`: waits for the external event `name`; returns its task id. */
export const waitForEvent = (name) => host().waitForEvent(name);
/** `wait-for-update`: waits for the update `name`; returns its task id. */
export const waitForUpdate = (name) => host().waitForUpdate(name);
/** `reply-update`: answers update `updateId` with `{tag: "ok", val: JSON text}` or `{tag: "err", val: failure}`. */
export const replyUpdate = (updateId, reply) => host().replyUpdate(updateId, reply);
/** `raise-event`: raises event `name` with JSON `data` on instance `instance`. */
export const raiseEvent = (instance, name, data) => host().raiseEvent(instance, name, data);
/** `call-entity`: refused by the harness, which runs no entity (an UnsupportedError). */
export const callEntity = (entity, operation, input) => host().callEntity(entity, operation, input);
/** `signal-entity`: refused by the harness, which runs no entity (an UnsupportedError). */
export const signalEntity = (entity, operation, input) => host().signalEntity(entity, operation, input);
/** `lock-entities`: refused by the harness, which runs no entity (an UnsupportedError). */
export const lockEntities = (entities) => host().lockEntities(entities);
/** `unlock-entities`: refused by the harness, which runs no entity (an UnsupportedError). */
export const unlockEntities = () => host().unlockEntities();
/** `wait-all`: the completions of every task of `tasks`, in order, once all have completed. */
export const waitAll = (tasks) => host().waitAll(tasks);
/** `wait-any`: the completion among `tasks` delivered first. */
export const waitAny = (tasks) => host().waitAny(tasks);
