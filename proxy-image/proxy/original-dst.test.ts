// The decoding and the error paths; the real redirect is proven in
// proxy-image/init/init.test.ts, in network namespaces with skein-init's rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket, createServer, connect } from 'node:net';
import { once } from 'node:events';
import { endianness } from 'node:os';
import { decodeSockaddr, formatIPv6, sockoptFor, originalDestination } from './original-dst.ts';

function sockaddr(family: number, port: number, address: number[], at: number): Buffer {
  const buf = Buffer.alloc(28);
  if (endianness() === 'LE') buf.writeUInt16LE(family, 0); else buf.writeUInt16BE(family, 0);
  buf.writeUInt16BE(port, 2);
  Buffer.from(address).copy(buf, at);
  return buf;
}

test('decodes sockaddr_in and sockaddr_in6 with the port in network order', () => {
  assert.deepEqual(decodeSockaddr(sockaddr(2, 8080, [10, 96, 0, 1], 4)), { ip: '10.96.0.1', port: 8080, family: 4 });
  const v6 = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  assert.deepEqual(decodeSockaddr(sockaddr(10, 443, v6, 8)), { ip: 'fd00::1', port: 443, family: 6 });
  assert.throws(() => decodeSockaddr(sockaddr(1, 0, [], 4)), { code: 'getsockopt_failed' });
});

test('IPv6 text is RFC 5952: lower case, the longest zero run compressed, a single zero group not', () => {
  const bytes = (groups: number[]) => Buffer.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
  assert.equal(formatIPv6(bytes([0x2001, 0xdb8, 0, 0, 1, 0, 0, 0])), '2001:db8:0:0:1::');
  assert.equal(formatIPv6(bytes([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])), '2001:db8:0:1:1:1:1:1');
  assert.equal(formatIPv6(bytes([0, 0, 0, 0, 0, 0, 0, 0])), '::');
  assert.equal(formatIPv6(bytes([0xABCD, 0, 0, 0, 0, 0, 0, 1])), 'abcd::1');
});

test('IPv4 and v4-mapped sockets ask SOL_IP; real IPv6 asks SOL_IPV6', () => {
  assert.deepEqual(sockoptFor('10.0.0.1'), { level: 0, name: 80 });
  assert.deepEqual(sockoptFor('::ffff:10.0.0.1'), { level: 0, name: 80 });
  assert.deepEqual(sockoptFor('fd00::2'), { level: 41, name: 80 });
});

test('a socket without a file descriptor is a typed error, not a crash', () => {
  assert.throws(() => originalDestination(new Socket()), { code: 'no_file_descriptor' });
});

test('an accepted socket answers from the kernel: its own address if tracked, not_redirected if not', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const client = connect(address.port, '127.0.0.1');
    const [accepted] = await once(server, 'connection') as [Socket];
    try {
      // This process's namespace may or may not run conntrack; either answer is a correct one.
      const original = originalDestination(accepted);
      assert.deepEqual(original, { ip: '127.0.0.1', port: address.port, family: 4 });
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'not_redirected');
    } finally {
      accepted.destroy();
      client.destroy();
    }
  } finally {
    server.close();
  }
});
