// `reprise:durable/activity-context@0.1.0` under Node, forwarded to the harness (../session.js).

import { binding } from "../session.js";

/** The binding the harness installed for this interface (an error if none is). */
const host = () => binding("activity-context");

/** `instance-id`: the id of the instance that scheduled the activity. */
export const instanceId = () => host().instanceId();
/** `task-id`: the activity's task id in that instance (BigInt). */
export const taskId = () => host().taskId();
/** `attempt`: the number of this attempt, from 1. */
export const attempt = () => host().attempt();
/** `idempotency-key`: `<instance>/<execution>/<task>`, the same for every attempt of the task. */
export const idempotencyKey = () => host().idempotencyKey();
