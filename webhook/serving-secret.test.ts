// SharedServingCert against a local fake API server (loopback HTTP) holding
// the one Secret: the leader creates, rotates and replaces it and publishes
// the bundle; a replica that does not lead only serves what it finds.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { serveFakeApi } from '../shared/fake-api.ts';
import { createLogger } from '../shared/log.ts';
import { generateServingCert, type ServingCert } from './certs.ts';
import { SharedServingCert, SERVING_SECRET } from './serving-secret.ts';
import { fromSecretData, toSecretData } from './rotation.ts';

/** The Secret collection of one namespace: list, watch, create, replace (with resourceVersion checks). */
class FakeSecrets {
  secret: V1Secret | undefined;
  rv = 1;
  writes: string[] = [];
  #watches = new Set<ServerResponse>();
  readonly server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); }).on('end', () => {
      const json = (code: number, o: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(o));
      if (req.method === 'GET' && url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        this.#watches.add(res);
        res.on('close', () => this.#watches.delete(res));
        return;
      }
      if (req.method === 'GET') { json(200, { kind: 'SecretList', metadata: { resourceVersion: String(this.rv) }, items: this.secret ? [this.secret] : [] }); return; }
      const sent = JSON.parse(body) as V1Secret;
      if (req.method === 'POST') {
        if (this.secret) { json(409, { kind: 'Status', code: 409, reason: 'AlreadyExists' }); return; }
      } else if (sent.metadata?.resourceVersion !== this.secret?.metadata?.resourceVersion) {
        json(409, { kind: 'Status', code: 409, reason: 'Conflict' });
        return;
      }
      this.writes.push(req.method ?? '');
      this.store(sent);
      json(req.method === 'POST' ? 201 : 200, this.secret);
    });
  });

  store(secret: V1Secret): void {
    const type = this.secret ? 'MODIFIED' : 'ADDED';
    this.secret = { ...secret, metadata: { ...secret.metadata, resourceVersion: String(++this.rv) } };
    for (const w of this.#watches) w.write(JSON.stringify({ type, object: this.secret }) + '\n');
  }

  start(t: TestContext): Promise<KubeConfig> {
    return serveFakeApi(this.server, t);
  }
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function replica(kc: KubeConfig, t: TestContext, leading: { now: boolean }, validityMs = 3_600_000) {
  const served: ServingCert[] = [];
  const published: string[] = [];
  const shared = new SharedServingCert({
    kubeConfig: kc, namespace: 'skein-system', validityMs, log: createLogger('test', 'silent'), checkEveryMs: 20,
    generate: () => generateServingCert(['skein-webhook.skein-system.svc'], [], validityMs),
    isLeader: () => leading.now,
    onServing: (c) => served.push(c),
    publish: (bundle) => { published.push(bundle); return Promise.resolve(); },
  });
  t.after(() => shared.stop());
  shared.start();
  return { shared, served, published };
}

test('a replica that does not lead writes nothing and waits; the leader creates the Secret, and both serve its certificate', async (t) => {
  const api = new FakeSecrets();
  const kc = await api.start(t);
  const follower = replica(kc, t, { now: false });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(api.writes, [], 'no Secret written by a replica that does not lead');
  assert.equal(follower.served.length, 0);
  const leader = replica(kc, t, { now: true });
  await until('both serving', () => follower.served.length === 1 && leader.served.length === 1);
  assert.deepEqual(api.writes, ['POST']);
  assert.equal(follower.served[0]?.cert, leader.served[0]?.cert, 'one certificate for every replica');
  await until('the bundle published', () => leader.published.length === 1);
  const state = fromSecretData(api.secret?.data)!;
  assert.ok(leader.published[0]?.includes(state.current.ca.trim()) && leader.published[0].includes(state.next.ca.trim()));
  assert.deepEqual(follower.published, [], 'only the leader publishes');
  assert.equal(api.secret?.metadata?.name, SERVING_SECRET);
});

test('when a rotation is due the leader rotates: replicas move to what was next, and the bundle keeps the previous CA', async (t) => {
  const api = new FakeSecrets();
  const kc = await api.start(t);
  // 3 s of validity: a rotation is due a second after each generation is made.
  const leader = replica(kc, t, { now: true }, 3_000);
  await until('created', () => leader.served.length === 1);
  const first = fromSecretData(api.secret?.data)!;
  await until('rotated', () => leader.served.length === 2, 5_000);
  assert.equal(leader.served[1]?.cert, first.next.cert, 'what is served after a rotation is what was next');
  await until('the new bundle published', () => leader.published.some((b) => b.includes(first.current.ca.trim()) && b.includes(first.next.ca.trim()) && b.split('BEGIN').length === 4));
});

test('a Secret that cannot be served is replaced by the leader (over its resourceVersion), and served again', async (t) => {
  const api = new FakeSecrets();
  const good = await generateServingCert(['x']);
  api.store({ metadata: { name: SERVING_SECRET, namespace: 'skein-system' }, data: { ...toSecretData({ current: good, next: good }), 'tls.key': Buffer.from('broken').toString('base64') } });
  const kc = await api.start(t);
  const leader = replica(kc, t, { now: true });
  await until('replaced and served', () => leader.served.length === 1);
  assert.deepEqual(api.writes, ['PUT']);
  assert.notEqual(leader.served[0]?.cert, good.cert);
});
