// The client half of the upgrade e2e test (echo.ts with MODE=upgrade-check):
// from a meshed pod, so through its own proxy and the echo pod's, it opens a
// WebSocket to TARGET (an http:// URL of an echo Service) and has a text and
// a 200 kB binary message echoed back, then POSTs a body with `Expect:
// 100-continue`, sending the body only once the 100 arrived. Tries until both
// pass or ATTEMPTS run out (the pods' proxies may still be starting), prints
// one JSON report per attempt (`final: true` on the last), then idles so the
// log can be read.
import http from 'node:http';
import { randomBytes } from 'node:crypto';

const target = new URL(process.env.TARGET ?? 'http://127.0.0.1:8080/');
const attempts = Number(process.env.ATTEMPTS ?? 30);
const STEP_TIMEOUT_MS = 10_000;

interface Check { ok: boolean; detail: string }

function withTimeout<T>(what: string, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS).unref())]);
}

async function websocket(): Promise<Check> {
  const binary = randomBytes(200_000);
  const ws = new WebSocket(`ws://${target.host}/ws`);
  ws.binaryType = 'arraybuffer';
  const got: (string | Buffer)[] = [];
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
  try {
    await withTimeout('websocket open', new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('websocket error before open')));
    }));
    const both = new Promise<void>((resolve) => ws.addEventListener('message', (e) => {
      got.push(typeof e.data === 'string' ? e.data : Buffer.from(e.data as ArrayBuffer));
      if (got.length === 2) resolve();
    }));
    ws.send('hello through two proxies');
    ws.send(binary);
    await withTimeout('websocket echoes', both);
    ws.close(1000);
    const code = await withTimeout('websocket close', closed);
    const textOk = got[0] === 'hello through two proxies';
    const binaryOk = Buffer.isBuffer(got[1]) && got[1].equals(binary);
    return { ok: textOk && binaryOk && code === 1000, detail: `text ${textOk ? 'echoed' : 'wrong'}, ${binary.length}-byte binary ${binaryOk ? 'echoed' : 'wrong'}, close code ${code}` };
  } catch (err) {
    ws.close();
    return { ok: false, detail: (err as Error).message };
  }
}

/** The body leaves only after the 100: a proxy that swallowed the 100 would leave this request hanging. */
function expectContinue(): Promise<Check> {
  const body = JSON.stringify({ n: 42, pad: 'x'.repeat(10_000) });
  return withTimeout('100-continue', new Promise<Check>((resolve) => {
    let continued = false;
    const req = http.request(target, { method: 'POST', path: '/continue', headers: { expect: '100-continue', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => {
        let echoed = false;
        try { echoed = (JSON.parse(text) as { body?: string }).body === body; } catch { /* reported below */ }
        resolve({ ok: continued && res.statusCode === 200 && echoed, detail: `100 ${continued ? 'received' : 'missing'}, status ${res.statusCode}, body ${echoed ? 'echoed' : `not echoed: ${text.slice(0, 120)}`}` });
      });
    });
    req.on('continue', () => { continued = true; req.end(body); });
    req.on('error', (err) => resolve({ ok: false, detail: err.message }));
    req.flushHeaders();
  })).catch((err: Error) => ({ ok: false, detail: err.message }));
}

for (let attempt = 1; attempt <= attempts; attempt++) {
  const ws = await websocket();
  const cont = await expectContinue();
  const final = (ws.ok && cont.ok) || attempt === attempts;
  console.log(JSON.stringify({ final, attempt, target: target.href, websocket: ws, continue: cont }));
  if (final) break;
  await new Promise((r) => setTimeout(r, 2_000));
}
// Idle: the Deployment would restart an exited app and print the report again.
setInterval(() => undefined, 60_000);
process.on('SIGTERM', () => process.exit(0));
