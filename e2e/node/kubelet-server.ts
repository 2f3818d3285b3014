// The part of the kubelet's HTTPS API that `kubectl logs` needs: the API
// server proxies /containerLogs/{namespace}/{pod}/{container} to the node,
// authenticating with its kubelet client certificate.
import https from 'node:https';
import { open, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface KubeletServerOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string; ca: string };
  /** The log file of a container of a pod on this node, if the node ran it. */
  logFile: (namespace: string, pod: string, container: string, previous: boolean) => Promise<string | undefined>;
}

export interface LogQuery {
  follow: boolean;
  tailLines: number | undefined;
  limitBytes: number | undefined;
  previous: boolean;
}

export function parseLogPath(url: string): { namespace: string; pod: string; container: string; query: LogQuery } | undefined {
  const u = new URL(url, 'https://node');
  const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(u.pathname);
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  const num = (k: string) => (u.searchParams.has(k) ? Number(u.searchParams.get(k)) : undefined);
  return {
    namespace: decodeURIComponent(m[1]), pod: decodeURIComponent(m[2]), container: decodeURIComponent(m[3]),
    query: { follow: u.searchParams.get('follow') === 'true', tailLines: num('tailLines'), limitBytes: num('limitBytes'), previous: u.searchParams.get('previous') === 'true' },
  };
}

/** The last `n` lines of a text (a trailing newline does not count as a line). */
export function tail(text: string, n: number | undefined): string {
  if (n === undefined) return text;
  if (n <= 0) return '';
  const lines = text.split('\n');
  const trailing = lines.at(-1) === '' ? lines.pop() : undefined;
  return lines.slice(-n).join('\n') + (trailing === '' ? '\n' : '');
}

async function serveLog(res: ServerResponse, req: IncomingMessage, file: string, q: LogQuery): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const text = (await fh.readFile()).toString('utf8');
    let out = tail(text, q.tailLines);
    if (q.limitBytes !== undefined) out = out.slice(0, q.limitBytes);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(out);
    let offset = Buffer.byteLength(text);
    while (q.follow && !req.destroyed && !res.destroyed) {
      await sleep(250);
      const size = (await stat(file)).size;
      if (size <= offset) continue;
      const buf = Buffer.alloc(size - offset);
      await fh.read(buf, 0, buf.length, offset);
      offset = size;
      res.write(buf);
    }
    res.end();
  } finally {
    await fh.close();
  }
}

export function startKubeletServer(o: KubeletServerOptions): Promise<https.Server> {
  const srv = https.createServer({ ...o.tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    if (req.url === '/healthz') { res.writeHead(200).end('ok'); return; }
    const parsed = req.method === 'GET' ? parseLogPath(req.url ?? '') : undefined;
    if (!parsed) { res.writeHead(404).end('the Skein local node serves /containerLogs only\n'); return; }
    void (async () => {
      const file = await o.logFile(parsed.namespace, parsed.pod, parsed.container, parsed.query.previous);
      if (!file) { res.writeHead(404).end(`no logs of container "${parsed.container}" of pod ${parsed.namespace}/${parsed.pod} on this node\n`); return; }
      await serveLog(res, req, file, parsed.query);
    })().catch((err: unknown) => { if (!res.headersSent) res.writeHead(500); res.end(String(err)); });
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(o.port, o.host, () => resolve(srv));
  });
}
