import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { V1Pod } from '@kubernetes/client-node';
import { createCa, issueLeaf, privateKeyPem } from '../shared/tls.ts';
import { createLogger } from '../shared/log.ts';
import { buildServer, type WebhookServer } from './server.ts';
import { createMetrics } from './metrics.ts';
import { handleInject } from './inject-handler.ts';
import type { InjectResult } from './inject/inject.ts';

let app: WebhookServer;
let port = 0;
let caPem = '';
const reports: { pod: V1Pod; result: InjectResult }[] = [];
const metrics = createMetrics();
let draining = false;

before(async () => {
  const ca = await createCa({ commonName: 'webhook-test-ca', validForMs: 3_600_000 });
  const leaf = await issueLeaf(ca, { subject: 'CN=skein-webhook', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 3_600_000 });
  caPem = ca.cert.toString('pem');
  app = buildServer({
    tls: { cert: leaf.cert.toString('pem'), key: await privateKeyPem(leaf.keys!.privateKey) },
    metrics,
    logger: createLogger('webhook-test', 'silent'),
    ready: () => true,
    draining: () => draining,
    bodyLimit: 64 * 1024,
    handlers: {
      '/inject': (req) => handleInject(req, {
        namespace: (name) => Promise.resolve(name === 'shop' ? { metadata: { name, annotations: { 'skein.dev/inject': 'enabled' } } } : undefined),
        report: (pod, _ns, result) => { reports.push({ pod, result }); },
        metrics,
        options: { version: 'test' },
      }),
      '/explode': () => Promise.reject(new Error('boom')),
    },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});

after(async () => { await app.close(); });

function call(path: string, body: string, contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown>; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, method: 'POST', ca: caPem, headers: { 'content-type': contentType } }, (res) => {
      let text = '';
      const protocol = (res.socket as unknown as { getProtocol(): string }).getProtocol();
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => {
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) as Record<string, unknown> : {}, protocol });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const podReview = (pod: V1Pod, extra: Record<string, unknown> = {}) => JSON.stringify({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: pod, ...extra },
});

const pod: V1Pod = { metadata: { generateName: 'web-', annotations: { 'config.skein.dev/proxy-cpu-request': 'a lot' } }, spec: { containers: [{ name: 'app', image: 'x' }] } };

test('a pod in an enabled namespace gets a JSON patch, the warnings and an Event report, over TLS 1.3', async () => {
  const before = reports.length;
  const r = await call('/inject', podReview(pod));
  assert.equal(r.status, 200);
  assert.equal(r.protocol, 'TLSv1.3');
  const response = r.json.response as { uid: string; allowed: boolean; patchType: string; patch: string; warnings: string[] };
  assert.equal(response.uid, 'u-1');
  assert.equal(response.allowed, true);
  assert.equal(response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as { path: string }[];
  assert.ok(ops.some((o) => o.path === '/spec/initContainers'));
  assert.match(response.warnings[0] ?? '', /proxy-cpu-request="a lot"/);
  assert.equal(reports.length, before + 1);
});

test('a dry run is answered the same but reports nothing', async () => {
  const before = reports.length;
  const r = await call('/inject', podReview(pod, { dryRun: true }));
  assert.equal((r.json.response as { allowed: boolean }).allowed, true);
  assert.ok((r.json.response as { patch?: string }).patch);
  assert.equal(reports.length, before);
});

test('malformed bodies get a 400 that says what is wrong', async () => {
  const cases: [string, string, RegExp][] = [
    ['{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionRev', 'application/json', /JSON|Unexpected|Body/i],
    ['{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}', 'application/json', /apiVersion must be admission.k8s.io\/v1/],
    ['{"apiVersion":"admission.k8s.io/v1","kind":"ConfigMap"}', 'application/json', /kind must be AdmissionReview/],
    ['{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}', 'application/json', /request\.uid/],
    ['[]', 'application/json', /not an AdmissionReview/],
  ];
  for (const [body, type, why] of cases) {
    const r = await call('/inject', body, type);
    assert.equal(r.status, 400, body);
    assert.match(String(r.json.message), why);
  }
  assert.equal((await call('/inject', 'hello', 'text/plain')).status, 400);
  assert.equal((await call('/inject', '<review/>', 'application/xml')).status, 415);
  assert.equal((await call('/inject', JSON.stringify({ pad: 'x'.repeat(100_000) }))).status, 413);
});

test('a failing handler answers 500 and the server stays up', async () => {
  assert.equal((await call('/explode', podReview(pod))).status, 500);
  assert.equal((await call('/inject', podReview(pod))).status, 200);
});

test('/metrics counts admissions by result and decisions by reason', async () => {
  const text = await metrics.registry.metrics();
  assert.match(text, /skein_webhook_admissions_total\{endpoint="inject",operation="CREATE",result="patched"\} [1-9]/);
  assert.match(text, /skein_webhook_admissions_total\{endpoint="inject",operation="unknown",result="bad_request"\} [1-9]/);
  assert.match(text, /skein_webhook_admissions_total\{endpoint="explode",operation="CREATE",result="error"\} 1/);
  assert.match(text, /skein_webhook_injection_decisions_total\{decision="injected",reason="namespace"\} [1-9]/);
  assert.match(text, /skein_webhook_config_problems_total\{annotation="config.skein.dev\/proxy-cpu-request"\} [1-9]/);
  assert.match(text, /skein_webhook_admission_duration_seconds_bucket/);
});

test('/convert converts TrafficSplits and refuses malformed reviews', async () => {
  const { handleConversion } = await import('./conversion.ts');
  const srv = buildServer({ tls: { cert: '', key: '' }, metrics: createMetrics(), logger: createLogger('t', 'silent'), ready: () => true, handlers: {}, convert: handleConversion });
  // fastify's inject() exercises routing and parsing without a socket.
  const ok = await srv.inject({
    method: 'POST', url: '/convert',
    payload: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', request: { uid: 'c1', desiredAPIVersion: 'split.smi-spec.io/v1alpha4', objects: [{ apiVersion: 'split.smi-spec.io/v1alpha1', kind: 'TrafficSplit', metadata: { name: 'a' }, spec: { service: 'a', backends: [{ service: 'b', weight: '1' }] } }] } },
  });
  const body = ok.json<{ response: { uid: string; result: { status: string }; convertedObjects: { apiVersion: string; spec: { backends: { weight: number }[] } }[] } }>();
  assert.equal(body.response.uid, 'c1');
  assert.equal(body.response.result.status, 'Success');
  assert.equal(body.response.convertedObjects[0]?.apiVersion, 'split.smi-spec.io/v1alpha4');
  assert.equal(body.response.convertedObjects[0]?.spec.backends[0]?.weight, 1);

  const failed = await srv.inject({
    method: 'POST', url: '/convert',
    payload: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', request: { uid: 'c2', desiredAPIVersion: 'split.smi-spec.io/v1alpha4', objects: [{ apiVersion: 'split.smi-spec.io/v1alpha1', kind: 'TrafficSplit', spec: { service: 'a', backends: [{ service: 'b', weight: 'lots' }] } }] } },
  });
  assert.equal(failed.json<{ response: { result: { status: string; message: string } } }>().response.result.status, 'Failure');
  assert.match(failed.json<{ response: { result: { message: string } } }>().response.result.message, /"lots" is not a quantity/);

  const bad = await srv.inject({ method: 'POST', url: '/convert', payload: { kind: 'AdmissionReview' } });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json<{ message: string }>().message, /not a ConversionReview/);
  await srv.close();
});

test('while draining, every answer closes its connection, so the API server\'s next request opens one to a replica that stays', async () => {
  const agent = new https.Agent({ keepAlive: true, ca: caPem });
  const connectionHeader = () => new Promise<string | undefined>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
      res.resume().on('end', () => resolve(res.headers.connection));
    }).on('error', reject);
  });
  assert.equal(await connectionHeader(), 'keep-alive');
  draining = true;
  try {
    assert.equal(await connectionHeader(), 'close');
  } finally {
    draining = false;
    agent.destroy();
  }
});
