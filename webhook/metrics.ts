// The webhook's own metrics, on a registry of its own (tests build many servers).
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export interface WebhookMetrics {
  registry: Registry;
  admissions: Counter<'endpoint' | 'operation' | 'result'>;
  latency: Histogram<'endpoint' | 'result'>;
  decisions: Counter<'decision' | 'reason'>;
  configProblems: Counter<'annotation'>;
  unmeshed: Gauge<'namespace'>;
}

export function createMetrics(): WebhookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    admissions: new Counter({ name: 'skein_webhook_admissions_total', help: 'Admission requests by endpoint, operation and result (allowed, patched, denied, bad_request, error)', labelNames: ['endpoint', 'operation', 'result'], registers: [registry] }),
    latency: new Histogram({ name: 'skein_webhook_admission_duration_seconds', help: 'Time to answer an admission request, in the handler', labelNames: ['endpoint', 'result'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1], registers: [registry] }),
    decisions: new Counter({ name: 'skein_webhook_injection_decisions_total', help: 'Injection decisions by outcome and reason code', labelNames: ['decision', 'reason'], registers: [registry] }),
    configProblems: new Counter({ name: 'skein_webhook_config_problems_total', help: 'Override annotations that were ignored because their value is invalid', labelNames: ['annotation'], registers: [registry] }),
    unmeshed: new Gauge({ name: 'skein_webhook_unmeshed_pods', help: 'Pods in namespaces that ask for the mesh which the webhook never saw (created while it was unavailable)', labelNames: ['namespace'], registers: [registry] }),
  };
}
