// Seeded hostile certify requests against the identity server over real TLS:
// hostile JSON (truncated, type swaps, deep nesting, junk), CSRs whose DER is
// cut or has flipped bytes, PEM that is not base64, huge bodies, odd
// credentials. Each gets a 4xx with a reason code, never a 5xx; a CSR that
// is not the one the workload signed is never certified; refusals are
// counted; a valid request is served after. Replay with SKEIN_FUZZ_SEED.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { createCa, issueLeaf, privateKeyPem } from '../../shared/tls.ts';
import { createCsr } from '../../shared/csr.ts';
import { identityName } from '../../api/identity-names.ts';
import { createLogger } from '../../shared/log.ts';
import { baseSeed, forEachCase, type Random } from '../../testkit/fuzz/random.ts';
import { deepJson, mutatedJson } from '../../testkit/fuzz/json.ts';
import { buildIdentityServer, identityMetrics } from './server.ts';

const SEED = baseSeed();
const AUDIENCE = 'identity.skein-system.cluster.local';
const TOKEN = 'token-of-web';
const metrics = identityMetrics();
let app: ReturnType<typeof buildIdentityServer>;
let port = 0;
let caPem = '';
let validCsr = '';

before(async () => {
  const ca = await createCa({ commonName: 'identity-fuzz', validForMs: 3_600_000 });
  const serving = await issueLeaf(ca, { subject: 'CN=skein-identity', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 3_600_000 });
  caPem = ca.cert.toString('pem');
  validCsr = (createCsr(identityName('web', 'shop', 'cluster.local'))).csrPem;
  app = buildIdentityServer({
    tls: { cert: serving.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) },
    deps: {
      // Only this workload's token is good; the review's answer is the API server's, never the request's.
      review: (token) => Promise.resolve(token === TOKEN
        ? { authenticated: true, username: 'system:serviceaccount:shop:web', audiences: [AUDIENCE] }
        : { authenticated: false, error: 'invalid bearer token' }),
      issuer: () => ca, trustDomain: 'cluster.local', audience: AUDIENCE, lifetimeMs: 3_600_000, clockSkewMs: 0,
    },
    metrics, logger: createLogger('identity-fuzz', 'silent'),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
after(async () => { await app.close(); });

interface Answer { status: number; text: string }

function post(body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/certify', method: 'POST', ca: caPem, agent: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    // A body over the limit may be refused before it is all sent: a reset is an answer too.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve({ status: 413, text: '{"error":"reset","message":"reset while sending a huge body"}' }) : reject(err)));
    req.end(body);
  });
}

/** The oracle: a 4xx with a reason code and a message; never a certificate, never a 5xx. */
function refusedWithReason(r: Answer, what: string): void {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: answered ${r.status}: ${r.text.slice(0, 300)}`);
  const body = JSON.parse(r.text) as { error?: unknown; message?: unknown };
  assert.equal(typeof body.error, 'string', `${what}: no reason code: ${r.text.slice(0, 200)}`);
  assert.ok(typeof body.message === 'string' && body.message.length > 5, `${what}: no message: ${r.text.slice(0, 200)}`);
}

const pemOf = (der: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

/** A CSR that is not the one the workload signed: its DER cut, flipped or grown, or its PEM broken. */
function hostileCsr(rnd: Random): { mutation: string; csr: string } | undefined {
  const der = derOf(validCsr);
  switch (rnd.int(6)) {
    case 0: return { mutation: 'der truncated', csr: pemOf(der.subarray(0, rnd.int(der.length))) };
    case 1: {
      const b = Buffer.from(der);
      for (let k = 0, n = 1 + rnd.int(4); k < n; k++) b[rnd.int(b.length)] = rnd.int(256);
      return b.equals(der) ? undefined : { mutation: 'der bytes flipped', csr: pemOf(b) };
    }
    case 2: return { mutation: 'der trailing bytes', csr: pemOf(Buffer.concat([der, rnd.bytes(1 + rnd.int(64))])) };
    case 3: return { mutation: 'der junk', csr: pemOf(rnd.bytes(rnd.int(600))) };
    case 4: return { mutation: 'der deep nesting', csr: pemOf(Buffer.concat([...Array.from({ length: 2000 }, () => Buffer.from([0x30, 0x80]))])) };
    default: return { mutation: 'pem broken', csr: rnd.pick([validCsr.replace('REQUEST', 'REQUST'), validCsr.replace(/[A-Za-z]/, '*'), validCsr.slice(0, rnd.int(validCsr.length - 1)), validCsr.replace('\n', '\u0000\n'), `${validCsr}${validCsr}`.replace('-----END', '*-----END')]) };
  }
}

test('certify: hostile bodies, CSRs and credentials get a 4xx with a reason, never a certificate or a 5xx; counted; still serving', async () => {
  const refusedBefore = await counted('refused');
  await forEachCase(SEED, 200, async (rnd, i) => {
    const c = mutatedJson({ csr: validCsr }, rnd);
    const r = await post(c.body);
    // A type swap may leave the valid CSR in place (e.g. a new key beside it): then it is certified, rightly.
    if (r.status === 200 && c.body.includes(JSON.stringify(validCsr))) return;
    refusedWithReason(r, `json case ${i} [${c.mutation}]`);
  }, 10);
  await forEachCase(SEED + 10_000, 200, async (rnd, i) => {
    const c = hostileCsr(rnd);
    if (c) refusedWithReason(await post(JSON.stringify({ csr: c.csr })), `csr case ${i} [${c.mutation}]`);
  }, 10);
  for (const [what, body, headers] of [
    ['huge body', JSON.stringify({ csr: validCsr, pad: 'x'.repeat(1 << 20) }), {}],
    ['huge csr under the body limit', JSON.stringify({ csr: pemOf(Buffer.alloc(40_000, 0x30)) }), {}],
    ['deep nesting', deepJson(30_000), {}],
    ['empty', '', {}],
    ['wrong content type', JSON.stringify({ csr: validCsr }), { 'content-type': 'text/plain' }],
    ['no credential', JSON.stringify({ csr: validCsr }), { authorization: '' }],
    ['basic credential', JSON.stringify({ csr: validCsr }), { authorization: `Basic ${TOKEN}` }],
    ['another token', JSON.stringify({ csr: validCsr }), { authorization: 'Bearer x.y.z' }],
    ['huge token', JSON.stringify({ csr: validCsr }), { authorization: `Bearer ${'a'.repeat(12_000)}` }],
  ] as const) {
    refusedWithReason(await post(body, headers), what);
  }
  const ok = await post(JSON.stringify({ csr: validCsr }));
  assert.equal(ok.status, 200, `a valid request is served after the fuzz: ${ok.text.slice(0, 200)}`);
  assert.ok(await counted('refused') - refusedBefore > 300, 'refusals are counted');
  assert.equal(await counted('error'), 0, 'no request ended as an internal error');
});

async function counted(result: string): Promise<number> {
  return (await metrics.certified.get()).values.filter((v) => v.labels.result === result).reduce((n, v) => n + v.value, 0);
}
