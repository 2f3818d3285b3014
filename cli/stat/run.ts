// Fetches what stat needs: the meshed pods and two scrapes of each proxy's
// :4191/metrics through the API server's pod proxy, `window` apart; or, with
// --prometheus, the PromQL answers. The numbers come from aggregate.ts.
import { ApiException, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from '../errors.ts';
import type { Progress } from '../progress.ts';
import { aggregate, withIdleRows, type PodRef, type PodScrape, type StatRow } from './aggregate.ts';
import { parseMetrics, type Sample } from './promtext.ts';
import { promQueries } from './promql.ts';
import { promDuration, type StatQuery } from './query.ts';
import { podMatches, podsToScrape, viewOf } from './views.ts';

export const MESHED_LABEL = 'skein.dev/control-plane-ns';
export const ADMIN_PORT = 4191;

export type Row = StatRow & { meshed?: string | undefined };

/** The pod's Deployment: its ReplicaSet owner is named <deployment>-<pod-template-hash>. */
export function podRef(pod: V1Pod): PodRef {
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  const rs = pod.metadata?.ownerReferences?.find((o) => o.kind === 'ReplicaSet' && o.controller)?.name;
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  const deployment = rs && hash && rs.endsWith(`-${hash}`) ? rs.slice(0, -hash.length - 1) : undefined;
  return { namespace, name, deployment };
}

const isMeshed = (pod: V1Pod) => pod.metadata?.labels?.[MESHED_LABEL] !== undefined;
const isRunning = (pod: V1Pod) => pod.status?.phase === 'Running';

/** "meshed/all" per row: Linkerd's MESHED column, for the rows that are the pods' own workloads. */
export function meshedCounts(pods: readonly V1Pod[], kind: 'deploy' | 'pod'): Map<string, string> {
  const counts = new Map<string, { meshed: number; all: number }>();
  for (const pod of pods.filter(isRunning)) {
    const ref = podRef(pod);
    const name = kind === 'pod' ? ref.name : ref.deployment;
    if (name === undefined) continue;
    const key = `${ref.namespace}/${name}`;
    const c = counts.get(key) ?? { meshed: 0, all: 0 };
    c.all++;
    if (isMeshed(pod)) c.meshed++;
    counts.set(key, c);
  }
  return new Map([...counts].map(([k, c]) => [k, `${c.meshed}/${c.all}`]));
}

async function listPods(core: CoreV1Api, namespace: string | undefined): Promise<V1Pod[]> {
  const list = namespace === undefined ? await core.listPodForAllNamespaces({}) : await core.listNamespacedPod({ namespace });
  return list.items;
}

async function scrape(core: CoreV1Api, pod: PodRef): Promise<Sample[]> {
  try {
    const text = await core.connectGetNamespacedPodProxyWithPath({ name: `${pod.name}:${ADMIN_PORT}`, namespace: pod.namespace, path: 'metrics' });
    return parseMetrics(String(text));
  } catch (err) {
    throw new CliError('ScrapeFailed', `cannot read ${pod.namespace}/${pod.name}'s proxy metrics through the API server (pods/proxy on port ${ADMIN_PORT}): ${(err as Error).message}. `
      + 'Check that you may get pods/proxy in that namespace and that the API server can reach pod IPs, or use --prometheus URL');
  }
}

/** The running meshed pods the query reads, and every pod listed (for the MESHED column). */
async function selectedPods(core: CoreV1Api, q: StatQuery): Promise<{ pods: V1Pod[]; targets: PodRef[] }> {
  const pods = await listPods(core, q.from ? undefined : q.namespace);
  const selection = podsToScrape(q);
  return { pods, targets: pods.filter((p) => isMeshed(p) && isRunning(p)).map(podRef).filter((p) => podMatches(p, selection)) };
}

/** The selected meshed pods for the Prometheus path's idle rows; none when the user may not list pods (the rows with traffic still show). */
export async function meshedPods(kc: KubeConfig, q: StatQuery): Promise<PodRef[]> {
  try {
    return (await selectedPods(kc.makeApiClient(CoreV1Api), q)).targets;
  } catch {
    return [];
  }
}

/**
 * When stat found nothing: a namespace it was asked about that does not exist
 * is the user's typo, not an idle namespace. Other failures to read it (no
 * permission to get namespaces) say nothing and are passed over.
 */
export async function assertNamespacesExist(kc: KubeConfig, q: StatQuery): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const asked = new Set([q.namespace, q.from?.namespace, q.to?.namespace].filter((n) => n !== undefined));
  for (const name of asked) {
    try {
      await core.readNamespace({ name });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) {
        throw new CliError('NamespaceNotFound', `namespace "${name}" does not exist; check the name (kubectl get namespaces), or use -A for every namespace`);
      }
    }
  }
}

export async function statFromProxies(kc: KubeConfig, q: StatQuery, show: Progress): Promise<Row[]> {
  const core = kc.makeApiClient(CoreV1Api);
  show.update('listing pods…');
  const { pods, targets } = await selectedPods(core, q);
  if (targets.length === 0) {
    show.done();
    return [];
  }
  show.update(`scraping ${targets.length} proxies…`);
  const before = await Promise.all(targets.map((p) => scrape(core, p)));
  const started = Date.now();
  for (let left = q.windowSeconds; left > 0; left--) {
    show.update(`measuring ${targets.length} proxies for ${q.windowSeconds}s… ${left}s left`);
    await sleep(Math.min(1000, q.windowSeconds * 1000 - (Date.now() - started)));
  }
  const after = await Promise.all(targets.map((p) => scrape(core, p)));
  // The real time between the scrapes, not the asked window: scrapes take time too.
  const seconds = (Date.now() - started) / 1000;
  show.done();
  const scrapes: PodScrape[] = targets.map((pod, i) => ({ pod, before: before[i] ?? [], after: after[i] ?? [] }));
  const rows = aggregate(scrapes, seconds, viewOf(q));
  if (q.kind === 'route' || q.from) return rows;
  const meshed = meshedCounts(pods, q.kind);
  return rows.map((r) => ({ ...r, meshed: meshed.get(`${r.namespace}/${r.name}`) }));
}

interface PromVector { status: string; error?: string; data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } }

async function promQuery(base: string, query: string): Promise<{ metric: Record<string, string>; value: number }[]> {
  const url = new URL('api/v1/query', base.endsWith('/') ? base : `${base}/`);
  url.searchParams.set('query', query);
  let body: PromVector;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    body = await res.json() as PromVector;
  } catch (err) {
    throw new CliError('PrometheusFailed', `cannot query Prometheus at ${base}: ${(err as Error).message}; check the --prometheus URL (e.g. http://localhost:9090 after kubectl port-forward)`);
  }
  if (body.status !== 'success') throw new CliError('PrometheusFailed', `Prometheus refused the query: ${body.error ?? 'unknown error'}\n  query: ${query}`);
  return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

export async function statFromPrometheus(base: string, q: StatQuery, show: Progress, meshed: () => Promise<readonly PodRef[]> = () => Promise.resolve([])): Promise<Row[]> {
  const queries = promQueries(q);
  show.update(`querying Prometheus at ${base}…`);
  const [requests, responses, p50, p95, p99] = await Promise.all([
    promQuery(base, queries.requests), promQuery(base, queries.responses),
    promQuery(base, queries.latency(0.5)), promQuery(base, queries.latency(0.95)), promQuery(base, queries.latency(0.99)),
  ]);
  // rate() needs two samples in the window; an empty answer with series present means the window is shorter than two scrapes.
  const oneSampleOnly = requests.length === 0 && (await promQuery(base, queries.seriesInWindow)).length > 0;
  show.done();
  if (oneSampleOnly) throw windowTooShort(q.windowSeconds);
  const rows = rowsFromProm(queries.row, q.windowSeconds, { requests, responses, p50, p95, p99 });
  // Prometheus has no series for a proxy nobody called: its workload is listed idle, as on the pod proxy path.
  return withIdleRows(rows, await meshed(), viewOf(q));
}

export const windowTooShort = (windowSeconds: number) => new CliError('PrometheusFailed',
  `Prometheus holds at most one sample of each proxy series in the last ${promDuration(windowSeconds)}, too few for a rate: it scrapes the proxies `
  + `less often than every ${promDuration(windowSeconds / 2)}. Use a --window of at least four scrape intervals (e.g. --window 2m for a 30s interval)`);

type PromResult = { metric: Record<string, string>; value: number }[];

/** Joins the five answers by their row labels; NaN (no observations) becomes undefined. */
export function rowsFromProm(labels: { namespace: string; name: string; authority?: string }, windowSeconds: number,
  r: { requests: PromResult; responses: PromResult; p50: PromResult; p95: PromResult; p99: PromResult }): Row[] {
  const keyOf = (m: Record<string, string>) => `${m[labels.namespace] ?? ''}/${m[labels.name] ?? ''}/${labels.authority ? m[labels.authority] ?? '' : ''}`;
  const rows = new Map<string, Row & { success: number; failure: number }>();
  const at = (m: Record<string, string>) => {
    const key = keyOf(m);
    let row = rows.get(key);
    if (!row) {
      row = {
        namespace: m[labels.namespace] ?? '', name: m[labels.name] ?? '', ...(labels.authority ? { authority: m[labels.authority] ?? '' } : {}),
        requests: 0, rps: 0, successRate: undefined, p50: undefined, p95: undefined, p99: undefined, success: 0, failure: 0,
      };
      rows.set(key, row);
    }
    return row;
  };
  const num = (v: number) => (Number.isFinite(v) ? v : undefined);
  for (const s of r.requests) { const row = at(s.metric); row.rps += s.value; row.requests += s.value * windowSeconds; }
  for (const s of r.responses) { const row = at(s.metric); if (s.metric.classification === 'failure') row.failure += s.value; else row.success += s.value; }
  for (const s of r.p50) at(s.metric).p50 = num(s.value);
  for (const s of r.p95) at(s.metric).p95 = num(s.value);
  for (const s of r.p99) at(s.metric).p99 = num(s.value);
  return [...rows.values()].filter((row) => row.name !== '').map(({ success, failure, ...row }) => ({
    ...row, successRate: success + failure > 0 ? success / (success + failure) : undefined,
  })).sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || (a.authority ?? '').localeCompare(b.authority ?? ''));
}
