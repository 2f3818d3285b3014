// HTTP echo: answers every request with who answered and what it was asked.
//   PORT (default 8080); FAIL_READY=1 makes /ready fail, for readiness tests.
//   FAIL_RATE (0..1): that share of requests is answered 500 (failure injection);
//     POST /control {"failRate": x} changes it at run time.
//   GET /delay/<ms> answers after that many milliseconds (timeouts); DELAY_MS
//     delays every answer (a slow mirror target).
//   UPSTREAM (a URL): each request first calls it and reports its answer, so
//     echo pods chain into a multi-tier app (web → books → authors).
//   A WebSocket upgrade (any path) is accepted and every message echoed back
//     as it came (text or binary); `Expect: 100-continue` is answered by
//     node:http's own 100 before the body is read.
//   MODE=upgrade-check: not a server but the client of upgrade-check.ts.
import http from 'node:http';
import { hostname } from 'node:os';
import { WebSocketServer } from 'ws';

if (process.env.MODE === 'upgrade-check') await import('./upgrade-check.ts');
else serve();

function serve(): void {

  const port = Number(process.env.PORT ?? 8080);
  const pod = process.env.POD_NAME ?? hostname();
  const upstream = process.env.UPSTREAM ? new URL(process.env.UPSTREAM) : undefined;
  const agent = new http.Agent({ keepAlive: true });
  let failRate = Number(process.env.FAIL_RATE ?? 0);
  const delayMs = Number(process.env.DELAY_MS ?? 0);

  function callUpstream(): Promise<{ status: number; pod?: string }> {
    return new Promise((resolve) => {
      if (!upstream) { resolve({ status: 0 }); return; }
      const req = http.get(upstream, { agent, timeout: 5_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(typeof res.headers['x-pod'] === 'string' ? { pod: res.headers['x-pod'] } : {}) }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve({ status: 599 }));
    });
  }

  const server = http.createServer((req, res) => {
    if (req.url === '/ready') {
      res.writeHead(process.env.FAIL_READY === '1' ? 503 : 200).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'POST' && req.url === '/control') {
        const rate = Number((JSON.parse(body || '{}') as { failRate?: unknown }).failRate);
        if (Number.isFinite(rate) && rate >= 0 && rate <= 1) { failRate = rate; res.writeHead(204).end(); } else res.writeHead(400).end('failRate must be a number from 0 to 1\n');
        return;
      }
      const delay = /^\/delay\/(\d{1,6})$/.exec(req.url ?? '');
      void new Promise((r) => setTimeout(r, delay ? Number(delay[1]) : delayMs)).then(callUpstream).then((up) => {
        const status = Math.random() < failRate ? 500 : upstream && up.status !== 200 ? 502 : 200;
        const answer = JSON.stringify({ pod, method: req.method, url: req.url, headers: req.headers, body, ...(upstream ? { upstream: up } : {}) });
        res.writeHead(status, { 'content-type': 'application/json', 'x-pod': pod }).end(answer + '\n');
      });
    });
  });
  // Echoes each message with its own type: the upgrade e2e test compares what comes back.
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  server.listen(port, () => console.log(`echo: ${pod} listening on ${port}`));
  // Exit promptly on SIGTERM so pod deletion is quick; tests of grace periods use their own command.
  process.on('SIGTERM', () => { server.close(); setTimeout(() => process.exit(0), 100).unref(); });
}
