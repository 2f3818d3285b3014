// HTTP load client: TARGET at RPS requests per second for DURATION seconds
// (or until SIGTERM), over keep-alive connections. Prints one JSON summary
// line per second and a final one: sent, ok, failed by cause, latency.
// METHOD (default GET) and HEADERS (JSON object) shape every request; a POST
// carries a small JSON body. Each report also lists the last few failures
// in detail (when, status or connection error, the proxy's skein-proxy-error,
// the pod that answered, the start of the body): a failure's cause is read
// from the report, not guessed.
import http from 'node:http';

const target = new URL(process.env.TARGET ?? 'http://127.0.0.1:8080/');
const rps = Number(process.env.RPS ?? 50);
const durationS = Number(process.env.DURATION ?? 0);
const method = process.env.METHOD ?? 'GET';
const headers = JSON.parse(process.env.HEADERS ?? '{}') as Record<string, string>;
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(process.env.CONNECTIONS ?? 16) });

/** How many failures are kept in detail: enough to see a pattern, bounded for a long run. */
const FAILURE_DETAILS = 20;

interface FailureDetail { at: string; cause: string; status?: number; proxyError?: string; pod?: string; body?: string; ms: number }

const totals = { sent: 0, ok: 0, failed: {} as Record<string, number>, byCause: {} as Record<string, number>, byPod: {} as Record<string, number>, latenciesMs: [] as number[], failures: [] as FailureDetail[] };
const fail = (cause: string, detail: Omit<FailureDetail, 'at' | 'cause'>) => {
  totals.failed[cause] = (totals.failed[cause] ?? 0) + 1;
  // Finer than `failed`: the proxy's error code with the status (http_502/upstream_reset), for soak histograms.
  const fine = detail.proxyError ? `${cause}/${detail.proxyError}` : cause;
  totals.byCause[fine] = (totals.byCause[fine] ?? 0) + 1;
  totals.failures.push({ at: new Date().toISOString(), cause, ...detail });
  if (totals.failures.length > FAILURE_DETAILS) totals.failures.shift();
};

function once(): void {
  totals.sent++;
  const t0 = performance.now();
  const req = http.request(target, { method, headers, agent, timeout: 5_000 }, (res) => {
    const status = res.statusCode ?? 0;
    // Only a failure's body is kept (its start): the proxy's error message says what went wrong.
    let body = '';
    if (status >= 400) res.setEncoding('utf8').on('data', (c: string) => { if (body.length < 200) body += c; });
    else res.resume();
    res.on('end', () => {
      const ms = performance.now() - t0;
      totals.latenciesMs.push(ms);
      // Which pod answered (the echo app's x-pod header): shows how the load spread.
      const pod = res.headers['x-pod'];
      if (typeof pod === 'string') totals.byPod[pod] = (totals.byPod[pod] ?? 0) + 1;
      if (status < 400) { totals.ok++; return; }
      const proxyError = res.headers['skein-proxy-error'];
      fail(`http_${status}`, {
        status, ms: Math.round(ms), body: body.slice(0, 200).trim(),
        ...(typeof proxyError === 'string' ? { proxyError } : {}), ...(typeof pod === 'string' ? { pod } : {}),
      });
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message, { ms: Math.round(performance.now() - t0), body: err.message }));
  req.end(method === 'GET' || method === 'HEAD' ? undefined : '{"n":1}');
}

function summary(final: boolean): string {
  const sorted = [...totals.latenciesMs].sort((a, b) => a - b);
  const q = (p: number) => sorted.length ? Number((sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0).toFixed(2)) : null;
  return JSON.stringify({ final, target: target.href, sent: totals.sent, ok: totals.ok, failed: totals.failed, byPod: totals.byPod, p50Ms: q(0.5), p99Ms: q(0.99), byCause: totals.byCause, failures: totals.failures });
}

const tick = setInterval(once, 1000 / rps);
const report = setInterval(() => console.log(summary(false)), 1000);
const stop = () => {
  clearInterval(tick);
  clearInterval(report);
  // Let requests in flight finish (or time out) before the final word.
  setTimeout(() => { console.log(summary(true)); agent.destroy(); process.exit(0); }, 1_000);
};
if (durationS > 0) setTimeout(stop, durationS * 1000);
process.on('SIGTERM', stop);
