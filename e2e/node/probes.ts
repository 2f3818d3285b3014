// Probes as the kubelet runs them: HTTP GET and TCP against the pod's IP, exec
// inside the container; thresholds turn single results into a verdict.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { V1Probe, V1Container, V1HTTPGetAction } from '@kubernetes/client-node';

export function resolvePort(c: V1Container, port: number | string | undefined): number {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  const named = c.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`container ${c.name} has no port named "${String(port)}"`);
  return named.containerPort;
}

export function httpGet(ip: string, port: number, action: Pick<V1HTTPGetAction, 'path' | 'httpHeaders' | 'scheme'>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.35' };
    for (const h of action.httpHeaders ?? []) headers[h.name] = h.value;
    // As the kubelet does, an HTTPS probe does not verify the certificate.
    const get = action.scheme === 'HTTPS' ? https.get : http.get;
    const req = get({ host: ip, port, path: action.path ?? '/', headers, timeout: timeoutMs, agent: false, rejectUnauthorized: false }, (res) => {
      res.resume();
      const s = res.statusCode ?? 0;
      resolve(s >= 200 && s < 400);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

export function tcpConnect(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port, timeout: timeoutMs });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('timeout', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(false));
  });
}

export interface ProbeTarget {
  podIP: string;
  container: V1Container;
  exec: (command: string[], timeoutMs: number) => Promise<number>;
}

export async function runProbe(probe: V1Probe, t: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const host = probe.httpGet.host ?? t.podIP;
    return httpGet(host, resolvePort(t.container, probe.httpGet.port), probe.httpGet, timeoutMs);
  }
  if (probe.tcpSocket) return tcpConnect(probe.tcpSocket.host ?? t.podIP, resolvePort(t.container, probe.tcpSocket.port), timeoutMs);
  if (probe.exec) return (await t.exec(probe.exec.command ?? [], timeoutMs)) === 0;
  if (probe.grpc) return tcpConnect(t.podIP, probe.grpc.port, timeoutMs);
  return true;
}

/** Consecutive results against the thresholds; `verdict` flips only when a threshold is met. */
export class ProbeState {
  #successes = 0;
  #failures = 0;
  verdict: boolean;
  readonly probe: V1Probe;
  constructor(probe: V1Probe, initial: boolean) {
    this.probe = probe;
    this.verdict = initial;
  }
  record(ok: boolean): boolean {
    if (ok) { this.#successes++; this.#failures = 0; } else { this.#failures++; this.#successes = 0; }
    if (ok && this.#successes >= (this.probe.successThreshold ?? 1)) this.verdict = true;
    if (!ok && this.#failures >= (this.probe.failureThreshold ?? 3)) this.verdict = false;
    return this.verdict;
  }
}
