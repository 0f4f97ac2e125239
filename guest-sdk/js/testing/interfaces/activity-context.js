// `reprise:durable/activity-context@0.1.0` under Node, forwarded to the harness (../session.js).

import { binding } from "../session.js";

const host = () => binding("activity-context");

export const instanceId = () => host().instanceId();
export const taskId = () => host().taskId();
export const attempt = () => host().attempt();
export const idempotencyKey = () => host().idempotencyKey();
