import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { classify, detect, H2_PREFACE, type Detection } from './detect.ts';

test('classify: whole prefixes', () => {
  assert.equal(classify(Buffer.from('GET /x HTTP/1.1\r\nhost: a\r\n')), 'http1');
  assert.equal(classify(Buffer.from('POST /x HTTP/1.0\n')), 'http1');
  assert.equal(classify(H2_PREFACE), 'http2');
  assert.equal(classify(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 'tls');
  assert.equal(classify(Buffer.from('SSH-2.0-OpenSSH\r\n')), 'opaque');
  assert.equal(classify(Buffer.from('GET /x HTTP/2.0\r\n')), 'opaque', 'only HTTP/1.x request lines are HTTP/1');
  assert.equal(classify(Buffer.from([0x00, 0x01, 0x02])), 'opaque');
});

test('classify: a prefix that could still become a protocol asks for more; at the end it is opaque', () => {
  for (const partial of [Buffer.from('GE'), Buffer.from('GET /long/path'), H2_PREFACE.subarray(0, 10), Buffer.from([0x16])]) {
    assert.equal(classify(partial), undefined, partial.toString('latin1'));
    assert.equal(classify(partial, true), 'opaque');
  }
  assert.equal(classify(Buffer.alloc(0)), undefined);
  assert.equal(classify(Buffer.from('GET /a\x01b')), 'opaque', 'control bytes end the wait early');
  assert.equal(classify(Buffer.from(`GET /${'a'.repeat(9000)}`)), 'opaque', 'an endless request line is bounded');
});

/** A connected pair on loopback; the server side is what detect() reads. */
async function pair(): Promise<{ client: Socket; server: Socket; close: () => void }> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const client = net.connect((srv.address() as AddressInfo).port, '127.0.0.1');
  const [server] = await once(srv, 'connection') as [Socket];
  return { client, server, close: () => { client.destroy(); server.destroy(); srv.close(); } };
}

test('detect: bytes split over several packets are put back whole for the next reader', async () => {
  const p = await pair();
  try {
    const detected = detect(p.server, 5_000);
    const whole = Buffer.from('GET /split HTTP/1.1\r\nhost: x\r\n\r\n');
    for (const part of [whole.subarray(0, 2), whole.subarray(2, 9), whole.subarray(9)]) {
      p.client.write(part);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(await detected, { protocol: 'http1', by: 'bytes' } satisfies Detection);
    const [again] = await once(p.server, 'data') as [Buffer];
    assert.ok(again.toString().startsWith('GET /split HTTP/1.1\r\n'), 'the peeked bytes come first');
  } finally {
    p.close();
  }
});

test('detect: a silent client is opaque after the timeout', async () => {
  const p = await pair();
  try {
    assert.deepEqual(await detect(p.server, 50), { protocol: 'opaque', by: 'timeout' });
  } finally {
    p.close();
  }
});

test('detect: a client that ends mid-prefix is opaque, and its bytes are handed back', async () => {
  const p = await pair();
  try {
    const detected = detect(p.server, 5_000);
    p.client.end('PRI * HT');
    assert.deepEqual(await detected, { protocol: 'opaque', by: 'closed', unread: Buffer.from('PRI * HT') });
  } finally {
    p.close();
  }
});
