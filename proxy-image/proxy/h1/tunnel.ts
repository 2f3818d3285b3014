// HTTP/1.1 Upgrade (WebSocket and the like) on the raw path: the request
// head goes to the endpoint on a connection of its own (mTLS with ALPN
// http/1.1 between proxies: an upgraded stream cannot ride a pool or an h2
// session), Upgrade and `Connection: upgrade` kept, the other hop-by-hop
// headers dropped. A 101 is passed on and both sockets become one byte
// tunnel, with whatever either side sent early; any other answer is relayed
// and the client's connection closed (server.ts). The tunnel lives until
// either side closes or nothing moves for `idleMs`.
import type { Duplex } from 'node:stream';
import { splice } from '../connection.ts';
import { ProxyError, toProxyError } from '../errors.ts';
import type { Outcome } from '../relay.ts';
import { bodyScanner, DEFAULT_H1_LIMITS, forwardHeaders, parseResponseHead, requestHeadBytes, responseHeadBytes, type BodyScanner } from './codec.ts';
import { sendError } from './relay.ts';
import type { ServerExchange } from './server.ts';

export interface TunnelOptions {
  idleMs: number;
  /** Headers the proxy adds for the next hop. */
  extra?: Readonly<Record<string, string>> | undefined;
  /** Lower-case names dropped on the way. */
  drop?: ReadonlySet<string> | undefined;
}

/** The upgrade request's head for the next hop. Pure. */
export function upgradeHead(ex: Pick<ServerExchange, 'head'>, o: Omit<TunnelOptions, 'idleMs'> = {}): Buffer {
  const h = ex.head;
  return requestHeadBytes(h.method, h.target, forwardHeaders(h.raw, h.headers.connection, { upgrade: true, ...(o.extra ? { extra: o.extra } : {}), ...(o.drop ? { drop: o.drop } : {}) }));
}

/** Relays an Upgrade request over the connection `dial` makes; resolves with the status the client got (101: the tunnel is up). */
export async function tunnel(ex: ServerExchange, dial: () => Promise<Duplex>, o: TunnelOptions): Promise<Outcome> {
  let up: Duplex;
  try {
    up = await dial();
  } catch (err) {
    return sendError(ex, toProxyError(err));
  }
  if (ex.finished) { up.destroy(); return { status: 499, error: new ProxyError('upstream_reset', 'the client closed the request') }; }
  up.write(upgradeHead(ex, o));
  return new Promise((resolve) => {
    const method = ex.head.method;
    let buf: Buffer | undefined;
    let status = 0;
    let scanner: BodyScanner | undefined;
    let toClose = false;
    let done = false;
    const finish = (out: Outcome) => {
      if (done) return;
      done = true;
      ex.onAbort = undefined;
      up.off('data', onData);
      up.off('error', fail);
      up.off('close', onClose);
      resolve(out);
    };
    const fail = (err: unknown) => {
      if (done) return;
      up.destroy();
      if (status !== 0) { ex.destroy(); finish({ status, error: toProxyError(err) }); return; }
      finish(sendError(ex, toProxyError(err)));
    };
    /** The non-101 answer is whole: the client's connection closes after it (server.ts). */
    const answered = () => {
      up.destroy();
      ex.end();
      finish({ status });
    };
    const body = (b: Buffer, start: number) => {
      let end: number;
      try {
        end = scanner!.scan(b, start);
      } catch (err) {
        fail(err);
        return;
      }
      const part = end < 0 ? b.subarray(start) : b.subarray(start, end);
      if (part.length > 0) ex.write(part);
      if (end >= 0) answered();
    };
    const onData = (b: Buffer) => {
      if (scanner) { body(b, 0); return; }
      const all = buf === undefined ? b : Buffer.concat([buf, b]);
      let at = 0;
      for (;;) {
        let parsed;
        try {
          parsed = parseResponseHead(all, at, method, DEFAULT_H1_LIMITS);
        } catch (err) {
          fail(err);
          return;
        }
        if (!parsed) { buf = all.subarray(at); return; }
        at = parsed.end;
        const r = parsed.head;
        // Interim answers (100, 103) before the switch are dropped: the client asked for an upgrade, not for them.
        if (r.status >= 100 && r.status < 200 && r.status !== 101) continue;
        status = r.status;
        if (r.status === 101) {
          finish({ status });
          const { socket, rest } = ex.switchProtocols(responseHeadBytes(101, r.reason, forwardHeaders(r.raw, r.headers.connection, { upgrade: true })));
          if (at < all.length) socket.write(all.subarray(at));
          if (rest) up.write(rest);
          splice(socket, up, o.idleMs);
          return;
        }
        ex.respond(responseHeadBytes(r.status, r.reason, forwardHeaders(r.raw, r.headers.connection, { close: true })), true);
        scanner = bodyScanner(r.framing, DEFAULT_H1_LIMITS.maxHeaderBytes);
        toClose = r.framing.kind === 'close';
        if (scanner.done) { answered(); return; }
        if (at < all.length) body(all, at);
        return;
      }
    };
    const onClose = () => {
      // A body that runs to the close ends here; anything else was cut.
      if (toClose) { answered(); return; }
      fail(new ProxyError('upstream_reset', 'the endpoint closed the connection before answering the upgrade'));
    };
    ex.onAbort = () => { up.destroy(); finish({ status: 499, error: new ProxyError('upstream_reset', 'the client closed the request') }); };
    up.on('data', onData);
    up.on('error', fail);
    up.once('close', onClose);
  });
}
