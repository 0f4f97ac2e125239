// `reprise:durable/orchestration@0.1.0` under Node: every function of the WIT interface, with
// the names and value types componentize-js gives it, forwarded to the harness (../session.js).

import { binding } from "../session.js";

const host = () => binding("orchestration");

export const instanceId = () => host().instanceId();
export const isReplaying = () => host().isReplaying();
export const currentTime = () => host().currentTime();
export const newGuid = () => host().newGuid();
export const version = (changeId, max) => host().version(changeId, max);
export const setCustomStatus = (status) => host().setCustomStatus(status);
export const log = (level, message) => host().log(level, message);
export const scheduleActivity = (name, input) => host().scheduleActivity(name, input);
export const scheduleActivityWithOptions = (name, input, options) => host().scheduleActivityWithOptions(name, input, options);
export const scheduleSubOrchestration = (name, input, options) => host().scheduleSubOrchestration(name, input, options);
export const continueAsNew = (input, carry) => host().continueAsNew(input, carry);
export const scheduleTimer = (fireAt) => host().scheduleTimer(fireAt);
export const waitForEvent = (name) => host().waitForEvent(name);
export const raiseEvent = (instance, name, data) => host().raiseEvent(instance, name, data);
export const callEntity = (entity, operation, input) => host().callEntity(entity, operation, input);
export const signalEntity = (entity, operation, input) => host().signalEntity(entity, operation, input);
export const lockEntities = (entities) => host().lockEntities(entities);
export const unlockEntities = () => host().unlockEntities();
export const waitAll = (tasks) => host().waitAll(tasks);
export const waitAny = (tasks) => host().waitAny(tasks);
