// `reprise:durable/entity-context@0.1.0` under Node. The harness runs no entity (see
// ../../testing.js), so nothing ever installs this binding and a call says why.

import { binding } from "../session.js";

const host = () => binding("entity-context");

export const id = () => host().id();
export const currentTime = () => host().currentTime();
export const newGuid = () => host().newGuid();
export const log = (level, message) => host().log(level, message);
export const signalEntity = (entity, operation, input) => host().signalEntity(entity, operation, input);
export const startOrchestration = (name, input, instanceId) => host().startOrchestration(name, input, instanceId);
