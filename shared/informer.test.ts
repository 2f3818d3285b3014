// The informer against a local fake API server (loopback HTTP), one test per
// watch failure the client library is known to mishandle (ecosystem-notes §2):
// a watch broken mid-stream, 410 Gone as an event and as a status, the server
// ending the watch, and list failures; and lists in pages, as the API server
// serves a large collection, with a continue token that expires.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import { serveFakeApi } from './fake-api.ts';
import { Informer, type EventType } from './informer.ts';

type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: unknown };

/** Just enough of an API server: one collection, list (in pages) and watch (from a version, replaying history), with failures on demand. */
class FakeApi {
  objects = new Map<string, V1ConfigMap>();
  rv = 1;
  /** Full lists started (first pages, and unpaginated lists). */
  lists = 0;
  listQueries: URLSearchParams[] = [];
  watchQueries: URLSearchParams[] = [];
  failLists = 0;
  /** Continue tokens the server no longer honours (410), as after etcd compaction. */
  expireContinue = false;
  /** What happened, by resourceVersion: a watch from a version replays what came after it. */
  history: WatchEvent[] = [];
  /** Versions at or below this are compacted: a watch from one gets 410 Expired. */
  compactedRv = 0;
  /** How the next watch requests are answered, in order; afterwards they are held open. */
  watchScript: ((res: ServerResponse) => void)[] = [];
  #open = new Set<ServerResponse>();
  readonly server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/configmaps') { res.writeHead(404).end(); return; }
    if (url.searchParams.get('watch') !== 'true') { this.#list(url.searchParams, res); return; }
    this.watchQueries.push(url.searchParams);
    const scripted = this.watchScript.shift();
    if (scripted) { scripted(res); return; }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from > 0 && from <= this.compactedRv) {
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n');
      return;
    }
    for (const e of this.history) if (Number((e.object as V1ConfigMap).metadata?.resourceVersion) > from) res.write(JSON.stringify(e) + '\n');
    this.#open.add(res);
    res.on('close', () => this.#open.delete(res));
  });

  /** A page of `limit` objects from the snapshot a continue token names (the token carries its version and offset). */
  #list(q: URLSearchParams, res: ServerResponse): void {
    this.listQueries.push(q);
    const token = q.get('continue');
    if (!token) this.lists++;
    if (this.failLists > 0) { this.failLists--; res.writeHead(500).end('{"kind":"Status","code":500}'); return; }
    if (token && this.expireContinue) {
      res.writeHead(410, { 'content-type': 'application/json' }).end('{"kind":"Status","code":410,"reason":"Expired","message":"The provided continue parameter is too old"}');
      return;
    }
    const [snapshotRv, offset] = token ? token.split(':').map(Number) as [number, number] : [this.rv, 0];
    const all = [...this.objects.values()].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    const limit = Number(q.get('limit') ?? '0') || all.length;
    const items = all.slice(offset, offset + limit);
    const more = offset + limit < all.length;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      kind: 'ConfigMapList', metadata: { resourceVersion: String(snapshotRv), ...(more ? { continue: `${snapshotRv}:${offset + limit}` } : {}) }, items,
    }));
  }

  get openWatches(): number { return this.#open.size; }

  start(t: TestContext): Promise<KubeConfig> {
    return serveFakeApi(this.server, t);
  }

  /** Changes an object and tells open watches, as the API server would. */
  put(name: string, data: Record<string, string>, notify = true): void {
    const type = this.objects.has(name) ? 'MODIFIED' : 'ADDED';
    const obj: V1ConfigMap = { metadata: { name, namespace: 'ns', resourceVersion: String(++this.rv) }, data };
    this.objects.set(name, obj);
    this.history.push({ type, object: obj });
    if (notify) this.send({ type, object: obj });
  }

  remove(name: string, notify = true): void {
    const obj = this.objects.get(name);
    this.objects.delete(name);
    this.rv++;
    if (!obj) return;
    const gone = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } };
    this.history.push({ type: 'DELETED', object: gone });
    if (notify) this.send({ type: 'DELETED', object: gone });
  }

  send(e: WatchEvent): void {
    for (const res of this.#open) res.write(JSON.stringify(e) + '\n');
  }

  /** Cuts every open watch: `destroy` is a broken connection, `end` a clean close. */
  cut(how: 'destroy' | 'end'): void {
    for (const res of this.#open) { if (how === 'destroy') res.socket?.destroy(); else res.end(); }
  }
}

function track(kc: KubeConfig, t: TestContext, pageSize?: number) {
  const events: [EventType, string, string | undefined][] = [];
  const errors: unknown[] = [];
  const inf = new Informer<V1ConfigMap>({
    kubeConfig: kc, path: '/api/v1/configmaps', maxBackoffMs: 50, ...(pageSize ? { pageSize } : {}),
    onEvent: (type, o) => events.push([type, o.metadata?.name ?? '', o.data?.v]),
    onError: (err) => errors.push(err),
  });
  t.after(() => inf.stop());
  inf.start();
  return { inf, events, errors };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const data = (inf: Informer<V1ConfigMap>): Record<string, string | undefined> => Object.fromEntries(inf.list().map((o) => [o.metadata?.name ?? '', o.data?.v]));

test('list fills the cache, then watch events keep it current', async (t) => {
  const api = new FakeApi();
  api.put('a', { v: '1' }, false);
  const { inf, events } = track(await api.start(t), t);
  await inf.synced;
  assert.deepEqual(data(inf), { a: '1' });
  await until('watch open', () => api.openWatches === 1);
  assert.equal(api.watchQueries[0]?.get('resourceVersion'), String(api.rv), 'the watch starts at the list\'s version');
  api.put('b', { v: '2' });
  api.put('a', { v: '3' });
  await until('events', () => events.length === 3);
  assert.deepEqual(events, [['added', 'a', '1'], ['added', 'b', '2'], ['modified', 'a', '3']]);
});

test('a watch broken mid-stream: backoff, then the watch resumes from the last version seen, with no relist; what changed meanwhile arrives as events', async (t) => {
  const api = new FakeApi();
  api.put('keep', { v: '1' }, false);
  api.put('gone', { v: '1' }, false);
  const { inf, events, errors } = track(await api.start(t), t);
  await until('watch open', () => api.openWatches === 1);
  const resumeFrom = String(api.rv);
  api.cut('destroy');
  api.put('keep', { v: '2' }, false);
  api.remove('gone', false);
  api.put('new', { v: '1' }, false);
  await until('watching again', () => api.watchQueries.length === 2 && api.openWatches === 1);
  await until('the missed changes', () => events.length === 5);
  assert.ok(errors.length >= 1, 'the failure was reported');
  assert.equal(api.lists, 1, 'no relist: the resume point was still good');
  assert.equal(api.watchQueries[1]?.get('resourceVersion'), resumeFrom);
  assert.deepEqual(data(inf), { keep: '2', new: '1' });
  assert.deepEqual(events.slice(2), [['modified', 'keep', '2'], ['deleted', 'gone', '1'], ['added', 'new', '1']]);
});

test('a resume point compacted away while the watch was down: 410 Expired, and only then a relist', async (t) => {
  const api = new FakeApi();
  api.put('a', { v: '1' }, false);
  const { inf } = track(await api.start(t), t);
  await until('watch open', () => api.openWatches === 1);
  api.cut('destroy');
  api.put('a', { v: '2' }, false);
  api.compactedRv = api.rv - 1;
  await until('relisted', () => api.lists === 2 && api.openWatches === 1);
  assert.deepEqual(data(inf), { a: '2' });
});

test('a large collection is listed in pages of one snapshot, then watched from that snapshot', async (t) => {
  const api = new FakeApi();
  for (let i = 0; i < 23; i++) api.put(`cm-${String(i).padStart(2, '0')}`, { v: String(i) }, false);
  const snapshot = String(api.rv);
  const { inf } = track(await api.start(t), t, 5);
  await inf.synced;
  assert.equal(inf.list().length, 23);
  assert.deepEqual(api.listQueries.map((q) => [q.get('limit'), q.get('continue')]), [
    ['5', null], ['5', `${snapshot}:5`], ['5', `${snapshot}:10`], ['5', `${snapshot}:15`], ['5', `${snapshot}:20`],
  ]);
  await until('watch open', () => api.openWatches === 1);
  assert.equal(api.watchQueries[0]?.get('resourceVersion'), snapshot);
  assert.equal(api.lists, 1);
});

test('a continue token that expired mid-list (410): one list without a limit, as client-go\'s pager falls back', async (t) => {
  const api = new FakeApi();
  for (let i = 0; i < 7; i++) api.put(`cm-${i}`, { v: String(i) }, false);
  api.expireContinue = true;
  const { inf, errors } = track(await api.start(t), t, 3);
  await inf.synced;
  assert.equal(inf.list().length, 7);
  assert.deepEqual(api.listQueries.map((q) => [q.get('limit'), q.get('continue') === null ? null : 'token']), [['3', null], ['3', 'token'], [null, null]]);
  assert.deepEqual(errors, [], 'an expired token is not a failure');
});

test('no relist on a timer: a quiet watch that the server ends is resumed, however long it has been', async (t) => {
  const api = new FakeApi();
  api.put('a', { v: '1' }, false);
  track(await api.start(t), t);
  await until('watch open', () => api.openWatches === 1);
  for (let round = 0; round < 5; round++) {
    api.cut('end');
    await until('resumed', () => api.watchQueries.length === round + 2 && api.openWatches === 1);
  }
  assert.equal(api.lists, 1);
});

test('410 Gone as a watch ERROR event: the informer relists instead of stopping', async (t) => {
  const api = new FakeApi();
  api.put('a', { v: '1' }, false);
  const { inf } = track(await api.start(t), t);
  await until('watch open', () => api.openWatches === 1);
  api.put('a', { v: '2' }, false);
  api.send({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } });
  api.cut('end');
  await until('relisted', () => api.lists === 2 && api.openWatches === 1);
  assert.deepEqual(data(inf), { a: '2' });
  assert.equal(api.watchQueries.at(-1)?.get('resourceVersion'), String(api.rv), 'the new watch starts from the fresh list');
});

test('410 Gone as the watch\'s HTTP status: relist', async (t) => {
  const api = new FakeApi();
  api.watchScript.push((res) => res.writeHead(410, { 'content-type': 'application/json' }).end('{"kind":"Status","code":410}'));
  const { inf } = track(await api.start(t), t);
  await inf.synced;
  await until('relisted after the 410', () => api.lists === 2 && api.openWatches === 1);
});

test('the server ending a watch cleanly: resumed from the last version seen, without a relist', async (t) => {
  const api = new FakeApi();
  const { events } = track(await api.start(t), t);
  await until('watch open', () => api.openWatches === 1);
  api.put('a', { v: '1' });
  await until('event', () => events.length === 1);
  const seen = String(api.rv);
  api.cut('end');
  await until('a second watch', () => api.watchQueries.length === 2 && api.openWatches === 1);
  assert.equal(api.watchQueries[1]?.get('resourceVersion'), seen);
  assert.equal(api.lists, 1, 'no relist for a clean end');
  api.put('b', { v: '1' });
  await until('events on the resumed watch', () => events.length === 2);
});

test('list failures: reported, retried with backoff, and the cache fills once the API answers', async (t) => {
  const api = new FakeApi();
  api.failLists = 3;
  api.put('a', { v: '1' }, false);
  const { inf, errors } = track(await api.start(t), t);
  await inf.synced;
  assert.equal(api.lists, 4);
  assert.equal(errors.length, 3);
  assert.deepEqual(data(inf), { a: '1' });
});
