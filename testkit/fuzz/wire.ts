// Raw bytes to a port and whatever comes back, with a bound: a connection
// the server leaves open after the client's FIN is reported, not waited on.
import net from 'node:net';
import tls from 'node:tls';

export interface Exchange {
  reply: Buffer;
  /** The server left the connection open for `guardMs` after the client finished. */
  hung: boolean;
  /** The server reset or errored the connection (a fine way to refuse). */
  error?: string;
}

export function exchange(port: number, bytes: Buffer, o: { localAddress?: string; guardMs?: number; halfClose?: boolean } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, ...(o.localAddress ? { localAddress: o.localAddress } : {}), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let hung = false;
    const guard = setTimeout(() => { hung = true; s.destroy(); }, o.guardMs ?? 5_000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err) => { error = err.message; });
    s.on('end', () => s.end());
    s.on('close', () => {
      clearTimeout(guard);
      resolve({ reply: Buffer.concat(chunks), hung, ...(error ? { error } : {}) });
    });
    s.write(bytes, () => { if (o.halfClose ?? true) s.end(); });
  });
}

/** The first HTTP/1.x status line of a reply, or undefined when there is none. */
export function statusOf(reply: Buffer): { status: number; head: string } | undefined {
  const text = reply.toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
  if (!m) return undefined;
  const end = text.indexOf('\r\n\r\n');
  return { status: Number(m[1]), head: end >= 0 ? text.slice(0, end) : text };
}

/** A TLS client presenting `cert` to a peer proxy; resolves with how the handshake ended. */
export function tlsHandshake(port: number, o: { ca: string; cert?: string; key?: string; servername: string }): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: o.ca, servername: o.servername, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined, ...(o.cert ? { cert: o.cert } : {}), ...(o.key ? { key: o.key } : {}) });
    let settled = false;
    const done = (r: { ok: boolean; error?: string }) => { if (!settled) { settled = true; s.destroy(); resolve(r); } };
    // TLS 1.3: the server checks the client certificate after the client's handshake completes; a request tells.
    s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.on('data', () => done({ ok: true }));
    s.on('error', (err: Error) => done({ ok: false, error: err.message }));
    s.on('close', () => done({ ok: false, error: 'closed' }));
  });
}
