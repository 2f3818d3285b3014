// HTTP/1.1 Upgrade (websockets and the like): the request head is written to
// the upstream as HTTP/1.1 on a connection of its own, and from there on the
// two sockets are spliced; the upstream's 101 (or refusal) reaches the client
// as the upstream wrote it. Between proxies that connection is mTLS with ALPN
// http/1.1, because an upgraded stream cannot ride an HTTP/2 session.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorResponse, toProxyError, type ProxyError } from './errors.ts';
import { authorityOf, endToEndHeaders } from './headers.ts';
import { splice } from './connection.ts';

/** The request head as bytes, hop-by-hop headers dropped except the upgrade itself. Pure. */
export function upgradeRequestHead(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, extra: OutgoingHttpHeaders = {}): string {
  const headers: OutgoingHttpHeaders = { ...endToEndHeaders(req.headers, { upgrade: true }), ...extra };
  const authority = authorityOf(req.headers);
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
  if (authority) lines.push(`host: ${authority}`);
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [String(value)]) lines.push(`${name}: ${v}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The status of an HTTP/1.x status line, or undefined if `line` is not one. Pure. */
export function statusOf(line: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/**
 * Relays an upgrade request over `upstream` and splices the sockets. Resolves
 * with the upstream's status once its status line arrived (the splice goes on).
 */
export function relayUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, upstream: Duplex, idleMs: number, extra: OutgoingHttpHeaders = {}): Promise<number> {
  upstream.write(upgradeRequestHead(req, extra));
  if (head.length > 0) upstream.write(head);
  return new Promise((resolve) => {
    const seen: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      seen.push(chunk);
      const text = Buffer.concat(seen).toString('latin1');
      const eol = text.indexOf('\r\n');
      if (eol < 0 && text.length < 1024) return;
      upstream.off('data', onData);
      upstream.pause();
      upstream.unshift(Buffer.concat(seen));
      splice(client, upstream, idleMs);
      resolve(statusOf(text.slice(0, Math.max(eol, 0))) ?? 502);
    };
    upstream.on('data', onData);
    upstream.once('close', () => { client.destroy(); resolve(502); });
  });
}

/** Writes the proxy's error as a raw HTTP/1.1 response on an upgrade socket and closes it; returns the status. */
export function refuseUpgrade(client: Duplex, err: ProxyError): number {
  const r = errorResponse(err, {});
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const body = r.body ?? '';
  client.end(`HTTP/1.1 ${r.status} ${err.code}\r\n${headers}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  return r.status;
}

/**
 * An upgrade over a connection of its own from `dial`: the status the client
 * got (the upstream's, the splice going on), or the proxy's refusal and why.
 */
export async function upgradeOver(req: IncomingMessage, client: Duplex, head: Buffer, dial: () => Promise<Duplex>, idleMs: number, extra?: OutgoingHttpHeaders): Promise<{ status: number; error?: ProxyError }> {
  try {
    const upstream = await dial();
    return { status: await relayUpgrade(req, client, head, upstream, idleMs, extra) };
  } catch (err) {
    const error = toProxyError(err);
    return { status: refuseUpgrade(client, error), error };
  }
}
