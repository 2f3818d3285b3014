// The DNS server on loopback: real UDP and TCP sockets, real clients (Node's
// c-ares resolver and raw packets), an upstream that is another instance.
// Every wait for a reply is bounded, so a lost reply fails the test instead of hanging it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { encode, decode, RECURSION_DESIRED, type DecodedPacket } from 'dns-packet';
import type { V1Service } from '@kubernetes/client-node';
import { DnsServer, takeFrames, upstreamsOf, type Upstream } from './dns-server.ts';
import { buildCatalog, resolve, type Resolution } from './dns.ts';

const D = 'cluster.local';
const manyEndpoints = Array.from({ length: 60 }, (_, i) => `198.18.1.${i + 2}`);
const catalog = buildCatalog([
  { metadata: { namespace: 'shop', name: 'web' }, spec: { clusterIP: '198.19.0.10' } } satisfies V1Service,
  { metadata: { namespace: 'shop', name: 'big' }, spec: { clusterIP: 'None' } },
], [{
  metadata: { namespace: 'shop', name: 'big-1', labels: { 'kubernetes.io/service-name': 'big' } },
  addressType: 'IPv4',
  endpoints: manyEndpoints.map((ip) => ({ addresses: [ip] })),
}]);

async function startServer(t: TestContext, upstreams: Upstream[], answer: (q: { name: string; type: string }) => Resolution = (q) => resolve(q, D, catalog)): Promise<DnsServer> {
  const server = new DnsServer({ host: '127.0.0.1', port: 0, resolve: answer, upstreams, forwardTimeoutMs: 300, log: () => undefined });
  await server.start();
  t.after(() => server.stop());
  return server;
}

function resolverFor(server: DnsServer): Resolver {
  const r = new Resolver({ timeout: 2_000, tries: 1 });
  r.setServers([`127.0.0.1:${server.port}`]);
  return r;
}

const query = (id: number, name: string, type: 'A' | 'SRV' = 'A'): Buffer =>
  encode({ type: 'query', id, flags: RECURSION_DESIRED, questions: [{ type, name }] });

async function udpExchange(t: TestContext, port: number, packets: Buffer[]): Promise<DecodedPacket> {
  const socket = dgram.createSocket('udp4');
  t.after(() => socket.close());
  for (const p of packets) socket.send(p, port, '127.0.0.1');
  const [msg] = await once(socket, 'message', { signal: AbortSignal.timeout(5_000) }) as [Buffer];
  return decode(msg);
}

const rcodeOf = (p: DecodedPacket) => (p as DecodedPacket & { rcode: string }).rcode;

test('a stub resolver gets the ClusterIP over UDP, and NXDOMAIN for an unknown cluster name', async (t) => {
  const server = await startServer(t, []);
  const r = resolverFor(server);
  assert.deepEqual(await r.resolve4('web.shop.svc.cluster.local'), ['198.19.0.10']);
  await assert.rejects(r.resolve4('nope.shop.svc.cluster.local'), { code: 'ENOTFOUND' });
});

test('names outside the cluster are forwarded to the upstream; a dead upstream gives SERVFAIL, the next one is tried', async (t) => {
  const upstream = await startServer(t, [], (q) => (q.name === 'example.test'
    ? { kind: 'answer', rcode: 'NOERROR', answers: [{ type: 'A', name: q.name, ttl: 30, data: '192.0.2.7' }], additionals: [], authorities: [] }
    : { kind: 'answer', rcode: 'NXDOMAIN', answers: [], additionals: [], authorities: [] }));
  // Nothing listens on the discard port of loopback; an unconnected UDP socket only ever sees silence from it.
  const dead = { host: '127.0.0.1', port: 9 };
  const server = await startServer(t, [dead, { host: '127.0.0.1', port: upstream.port }]);
  const r = resolverFor(server);
  assert.deepEqual(await r.resolve4('example.test'), ['192.0.2.7']);
  await assert.rejects(r.resolve4('missing.test'), { code: 'ENOTFOUND' }, 'the upstream\'s NXDOMAIN comes through as it is');
  assert.equal(server.stats.forwarded, 2);

  const lonely = await startServer(t, [dead]);
  await assert.rejects(resolverFor(lonely).resolve4('example.test'), { code: 'ESERVFAIL' });
  assert.equal(lonely.stats.forwardFailures, 1);
});

test('malformed packets are counted and dropped; the server keeps answering', async (t) => {
  const server = await startServer(t, []);
  const garbage = [Buffer.from([1, 2, 3]), Buffer.alloc(40, 0xff), encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'x' }] })];
  const reply = await udpExchange(t, server.port, [...garbage, query(77, 'web.shop.svc.cluster.local')]);
  assert.equal(reply.id, 77, 'the only reply is to the valid query');
  assert.deepEqual(reply.answers?.map((a) => 'data' in a && a.data), ['198.19.0.10']);
  assert.equal(reply.flag_aa, true);
  assert.equal(server.stats.malformed, 3);
});

test('more than one question is FORMERR; an opcode other than QUERY is NOTIMP', async (t) => {
  const server = await startServer(t, []);
  const two = encode({ type: 'query', id: 5, questions: [{ type: 'A', name: 'a.cluster.local' }, { type: 'A', name: 'b.cluster.local' }] });
  assert.equal(rcodeOf(await udpExchange(t, server.port, [two])), 'FORMERR');
  const status = Buffer.from(query(6, 'web.shop.svc.cluster.local'));
  status.writeUInt16BE(status.readUInt16BE(2) | (2 << 11), 2); // opcode STATUS
  assert.equal(rcodeOf(await udpExchange(t, server.port, [status])), 'NOTIMP');
});

test('an answer too big for UDP is truncated; over TCP it comes whole, several queries per connection', async (t) => {
  const server = await startServer(t, []);
  const udp = await udpExchange(t, server.port, [query(1, 'big.shop.svc.cluster.local')]);
  assert.equal(udp.flag_tc, true);
  assert.equal(udp.answers?.length ?? 0, 0);

  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  t.after(() => socket.destroy());
  await once(socket, 'connect', { signal: AbortSignal.timeout(5_000) });
  const framed = Buffer.concat([query(2, 'big.shop.svc.cluster.local'), query(3, 'web.shop.svc.cluster.local')].map((m) => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(m.length);
    return Buffer.concat([len, m]);
  }));
  // Split mid-frame: the server must reassemble.
  socket.write(framed.subarray(0, 7));
  socket.write(framed.subarray(7));
  let buf = Buffer.alloc(0);
  let replies: DecodedPacket[] = [];
  while (replies.length < 2) {
    const [chunk] = await once(socket, 'data', { signal: AbortSignal.timeout(5_000) }) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
    replies = takeFrames(buf).map((m) => decode(m));
  }
  const byId = new Map(replies.map((r) => [r.id, r]));
  assert.deepEqual(byId.get(2)?.answers?.map((a) => 'data' in a && a.data).sort(), [...manyEndpoints].sort());
  assert.equal(byId.get(2)?.flag_tc, false);
  assert.deepEqual(byId.get(3)?.answers?.map((a) => 'data' in a && a.data), ['198.19.0.10']);
});

test('c-ares retries a truncated answer over TCP and gets every endpoint', async (t) => {
  const server = await startServer(t, []);
  const ips = await resolverFor(server).resolve4('big.shop.svc.cluster.local');
  assert.deepEqual(ips.sort(), [...manyEndpoints].sort());
});

test('upstreams are the host\'s IPv4 nameservers, never the cluster DNS address itself', () => {
  const conf = '# generated\nnameserver 10.255.255.53\nnameserver 198.18.0.1\nnameserver ::1\nsearch example.com\nnameserver 127.0.0.53\n';
  assert.deepEqual(upstreamsOf(conf, '198.18.0.1'), [{ host: '10.255.255.53', port: 53 }, { host: '127.0.0.53', port: 53 }]);
});

test('a failure while answering costs that one answer (SERVFAIL), not the server', async (t) => {
  const server = await startServer(t, [], (q) => { if (q.name.startsWith('boom')) throw new Error('boom'); return resolve(q, D, catalog); });
  assert.equal(rcodeOf(await udpExchange(t, server.port, [query(8, 'boom.cluster.local')])), 'SERVFAIL');
  assert.deepEqual(await resolverFor(server).resolve4('web.shop.svc.cluster.local'), ['198.19.0.10']);
});

test('a fixed port taken for TCP fails start with EADDRINUSE and leaves no socket open', async (t) => {
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.after(() => squatter.close());
  const port = (squatter.address() as net.AddressInfo).port;
  const server = new DnsServer({ host: '127.0.0.1', port, resolve: (q) => resolve(q, D, catalog), upstreams: [], log: () => undefined });
  await assert.rejects(server.start(), { code: 'EADDRINUSE' });
  assert.equal(server.port, 0, 'the UDP socket was closed again');
  // The UDP port is free again: binding it proves nothing was left behind.
  const probe = dgram.createSocket('udp4');
  t.after(() => probe.close());
  await new Promise<void>((resolve, reject) => { probe.once('error', reject); probe.bind(port, '127.0.0.1', resolve); });
});
