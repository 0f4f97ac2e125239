// `reprise:durable/entity-context@0.1.0` under Node. The harness runs no entity (see
// ../../testing.js), so nothing ever installs this binding and a call says why.

import { binding } from "../session.js";

/** The binding the harness installed for this interface (an error if none is). */
const host = () => binding("entity-context");

/** `id`: the entity the operation runs on. */
export const id = () => host().id();
/** `current-time`: the logical time of the batch of operations. */
export const currentTime = () => host().currentTime();
/** `new-guid`: a UUID derived from the entity id. */
export const newGuid = () => host().newGuid();
/** `log`: a log line, tagged with the entity id. */
export const log = (level, message) => host().log(level, message);
/** `signal-entity`: a one-way operation on another entity. */
export const signalEntity = (entity, operation, input) => host().signalEntity(entity, operation, input);
/** `start-orchestration`: starts an orchestration instance. */
export const startOrchestration = (name, input, instanceId) => host().startOrchestration(name, input, instanceId);
