import { Registry, collectDefaultMetrics } from 'prom-client';

let shared: Registry | undefined;

/**
 * prom-client's default process figures (CPU, memory, event-loop lag, GC, handles), collected once per
 * process in a registry of their own: a JobManager and TaskManagers sharing a process (`cs start`, tests)
 * each serve them with their own figures (see {@link metricsText}) without each starting an event-loop
 * monitor. Never prom-client's global default registry.
 */
export function processRegistry(): Registry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
  }
  return shared;
}

/** The Prometheus text of `registry` followed by the process figures. */
export function metricsText(registry: Registry): Promise<string> {
  return Registry.merge([registry, processRegistry()]).metrics();
}
