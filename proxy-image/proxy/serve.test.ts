// The servers below detection alone: each kind of request reaches its handler.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Registry } from '../../shared/prom-text.ts';
import { DEFAULT_HTTP_LIMITS } from './http-front.ts';
import { ProxyMetrics } from './metrics.ts';
import { HttpServers } from './serve.ts';

const seen: string[] = [];
const servers = new HttpServers({ direction: 'inbound', metrics: new ProxyMetrics(new Registry()), limits: DEFAULT_HTTP_LIMITS }, {
  h1: (ex) => {
    seen.push(`h1 ${ex.method} ${ex.url}${ex.upgrade ? ' upgrade' : ''}`);
    if (ex.upgrade) {
      ex.switchProtocols(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n')).socket.end();
      return;
    }
    ex.readBody(() => true, () => {
      ex.respond(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n'), false);
      ex.write(Buffer.from('h1'));
      ex.end();
    });
  },
  node: (req, res) => {
    seen.push(`node ${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end('node'));
  },
});
// An h2 connection is recognised by its preface, as detect.ts would have.
const listener = net.createServer((s) => {
  s.once('readable', () => {
    const first = s.read(3) as Buffer | null;
    if (first) s.unshift(first);
    servers.serve(s, first?.toString('latin1') === 'PRI');
  });
});
await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
const port = (listener.address() as AddressInfo).port;
after(() => { servers.destroy(); listener.close(); });

async function raw(request: string): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  s.end(request);
  let out = '';
  s.setEncoding('latin1').on('data', (c: string) => { out += c; });
  await once(s, 'close');
  return out;
}

test('HTTP/1.x goes to the raw HTTP/1.1 handler, Expect: 100-continue and Upgrade requests too', async () => {
  assert.match(await raw('GET /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), /^HTTP\/1\.1 200 OK[\s\S]*h1$/);
  assert.match(await raw('POST /b HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx'), /h1$/);
  assert.match(await raw('GET /c HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n'), /^HTTP\/1\.1 101/);
  assert.deepEqual(seen.splice(0), ['h1 GET /a', 'h1 POST /b', 'h1 GET /c upgrade']);
});

test('HTTP/2 goes to node:http2 and its handler', async () => {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  after(() => client.close());
  const stream = client.request({ ':path': '/d' });
  let body = '';
  stream.setEncoding('utf8').on('data', (c: string) => { body += c; });
  await once(stream, 'end');
  assert.equal(body, 'node');
  assert.deepEqual(seen.splice(0), ['node GET /d']);
});
