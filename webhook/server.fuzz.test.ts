// Seeded hostile bodies against /inject, /validate and /convert over real
// TLS: truncated, huge, wrong kind or version, wrong content type, deep
// nesting, type swaps and hostile keys. Each is answered 200 with a review
// or 4xx with a reason, never a 500 or a dropped server; the admissions
// counter counts the bad requests. Replay with SKEIN_FUZZ_SEED.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { createCa, issueLeaf, privateKeyPem } from '../shared/tls.ts';
import { createLogger } from '../shared/log.ts';
import { baseSeed, forEachCase } from '../testkit/fuzz/random.ts';
import { deepJson, mutatedJson } from '../testkit/fuzz/json.ts';
import { buildServer, type WebhookServer } from './server.ts';
import { createMetrics } from './metrics.ts';
import { handleInject } from './inject-handler.ts';
import { handleValidate } from './validate.ts';
import { handleConversion } from './conversion.ts';

const SEED = baseSeed();
const BODY_LIMIT = 256 * 1024;
let app: WebhookServer;
let port = 0;
let caPem = '';
const metrics = createMetrics();

before(async () => {
  const ca = await createCa({ commonName: 'webhook-fuzz-ca', validForMs: 3_600_000 });
  const leaf = await issueLeaf(ca, { subject: 'CN=skein-webhook', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 3_600_000 });
  caPem = ca.cert.toString('pem');
  app = buildServer({
    tls: { cert: leaf.cert.toString('pem'), key: await privateKeyPem(leaf.keys!.privateKey) },
    metrics, logger: createLogger('webhook-fuzz', 'silent'), ready: () => true, bodyLimit: BODY_LIMIT,
    handlers: {
      '/inject': (req) => handleInject(req, {
        namespace: (name) => Promise.resolve({ metadata: { name, annotations: { 'skein.dev/inject': 'enabled' } } }),
        report: () => {}, metrics, options: { version: 'fuzz' },
      }),
      '/validate': handleValidate,
    },
    convert: handleConversion,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
after(async () => { await app.close(); });

function post(path: string, body: string, contentType = 'application/json'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, method: 'POST', ca: caPem, agent: false, headers: { 'content-type': contentType } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    // A server may refuse a huge body before reading it: a reset is an answer too.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve({ status: 0, text: err.code }) : reject(err)));
    req.end(body);
  });
}

const review = (object: unknown, kind = { group: '', version: 'v1', kind: 'Pod' }) => ({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'u-1', kind, operation: 'CREATE', namespace: 'shop', name: 'x', object },
});
const POD = { metadata: { name: 'web', annotations: { 'config.skein.dev/proxy-cpu-request': '100m' } }, spec: { containers: [{ name: 'app', image: 'x', ports: [{ containerPort: 8080 }] }] } };
const PROFILE = { apiVersion: 'skein.dev/v1alpha1', kind: 'ServiceProfile', metadata: { name: 'api.shop.svc.cluster.local', namespace: 'shop' }, spec: { routes: [{ name: 'get', condition: { method: 'GET', pathRegex: '/x' } }] } };
const CONVERSION = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', request: { uid: 'c-1', desiredAPIVersion: 'skein.dev/v1alpha1', objects: [PROFILE] } };

const ENDPOINTS = [
  { path: '/inject', valid: review(POD) },
  { path: '/validate', valid: review(PROFILE, { group: 'skein.dev', version: 'v1alpha1', kind: 'ServiceProfile' }) },
  { path: '/convert', valid: CONVERSION },
] as const;

/** The oracle: a review (200) or the caller's error with a reason (4xx); a reset only for a body over the limit. */
function checkAnswer(r: { status: number; text: string }, what: string, bodyBytes: number): void {
  if (r.status === 0) {
    assert.ok(bodyBytes > BODY_LIMIT, `${what}: the connection was reset (${r.text}) for a body under the limit`);
    return;
  }
  assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${what}: answered ${r.status}: ${r.text.slice(0, 300)}`);
  if (r.status !== 200) assert.match(r.text, /"message":"[^"]+/, `${what}: a ${r.status} without a reason`);
}

// Found by this fuzzer: /inject answers 500 ("object is not iterable") for a pod whose
// fields have the wrong JSON type (e.g. ports: {}); the API server decodes pods before
// admission so it never sends one, but any client reaching the Service can.
const KNOWN: Record<string, string> = {};

for (const e of ENDPOINTS) {
  test(`${e.path}: hostile bodies get a review or a 4xx with a reason; the server stays up and counts them`, KNOWN[e.path] ? { todo: KNOWN[e.path] } : {}, async () => {
    await forEachCase(SEED + e.path.length * 1000, 400, async (rnd, i) => {
      const c = mutatedJson(e.valid, rnd);
      checkAnswer(await post(e.path, c.body), `case ${i} [${c.mutation}]`, Buffer.byteLength(c.body));
    }, 10);
    for (const [what, body, type] of [
      ['huge', JSON.stringify({ ...e.valid, pad: 'x'.repeat(BODY_LIMIT * 2) }), 'application/json'],
      ['wrong content type', JSON.stringify(e.valid), 'text/plain'],
      ['wrong kind', JSON.stringify({ ...e.valid, kind: 'Pod' }), 'application/json'],
      ['wrong version', JSON.stringify({ ...e.valid, apiVersion: 'admission.k8s.io/v1beta1' }), 'application/json'],
      ['deep nesting', deepJson(200_000), 'application/json'],
      ['empty', '', 'application/json'],
    ] as const) {
      const r = await post(e.path, body, type);
      checkAnswer(r, what, Buffer.byteLength(body));
      assert.notEqual(r.status, 200, `${what}: accepted`);
    }
    assert.equal((await post(e.path, JSON.stringify(e.valid))).status, 200, 'a valid request is served after the fuzz');
    const bad = (await metrics.admissions.get()).values.filter((v) => v.labels.endpoint === e.path.slice(1) && v.labels.result === 'bad_request').reduce((n, v) => n + v.value, 0);
    assert.ok(bad > 20, `${e.path}: bad requests are counted (${bad})`);
  });
}
