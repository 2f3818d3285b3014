// A pod's HTTP probes as the proxy must admit them: the kubelet calls them in
// plain text, without a mesh identity. Shared by the injector (SKEIN_PROBES,
// known before the first policy arrives) and discovery (the InboundUpdate), so
// both always agree on the list.
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { PROXY_CONTAINER } from './mesh-names.ts';

const appContainers = (pod: V1Pod): V1Container[] => (pod.spec?.containers ?? []).filter((c) => c.name !== PROXY_CONTAINER);

/** A container port of the pod, by number (kept as is) or by name. */
export function podPort(pod: V1Pod, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  for (const c of [...appContainers(pod), ...(pod.spec?.initContainers ?? [])]) {
    const found = c.ports?.find((p) => p.name === port);
    if (found) return found.containerPort;
  }
  return undefined;
}

/** The pod's HTTP GET probes, port resolved: the kubelet calls them without mesh identity. */
export function httpProbes(pod: V1Pod): { port: number; path: string }[] {
  const seen = new Map<string, { port: number; path: string }>();
  for (const c of appContainers(pod)) {
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe] as (V1Probe | undefined)[]) {
      const get = probe?.httpGet;
      if (!get) continue;
      const raw = get.port;
      const port = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : podPort(pod, raw);
      if (port === undefined) continue;
      const path = get.path ?? '/';
      seen.set(`${port} ${path}`, { port, path });
    }
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.path.localeCompare(b.path));
}
