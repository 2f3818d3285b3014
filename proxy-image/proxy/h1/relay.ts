// One HTTP/1.1 exchange on the raw path: a request read by server.ts goes to
// an upstream connection from client.ts's pool and the answer comes back,
// head rewritten (hop-by-hop headers out), body as the bytes it was, with
// backpressure both ways. The same contract as ../relay.ts: one Outcome per
// attempt; an error before the answer's head becomes the proxy's own answer
// (or a retry when the gate says so), after it the client's connection is
// closed (a status cannot change). A reused keep-alive connection that the
// endpoint had closed is retried once on a new one when the request was not
// streamed (nothing of it can have been processed by an endpoint that closed
// before reading it).
import type { Duplex } from 'node:stream';
import { ProxyError, errorResponse, toProxyError } from '../errors.ts';
import { PROXY_ERROR } from '../headers.ts';
import type { Outcome, RetryGate } from '../relay.ts';
import { forwardHeaders, requestHeadBytes, responseHeadBytes, type ResponseHead } from './codec.ts';
import type { H1Pool, ResponseHandler, UpstreamConnection } from './client.ts';
import type { ServerExchange } from './server.ts';
import type { HeaderEdit } from '../../../api/discovery-protocol.ts';
import type { RequestRewrite } from '../route.ts';

export interface H1Upstream {
  pool: H1Pool;
  /** Pool key: one per endpoint (and identity, for mTLS). */
  key: string;
  dial: () => Promise<Duplex>;
}

export interface H1RelayOptions {
  responseTimeoutMs?: number | undefined;
  /** The whole body, read before (a replayable attempt). */
  body?: Buffer | undefined;
  retry?: RetryGate | undefined;
  /** Headers the proxy adds for the next hop. */
  extra?: Readonly<Record<string, string>> | undefined;
  /** Lower-case names dropped on the way (beside the hop-by-hop ones). */
  drop?: ReadonlySet<string> | undefined;
  /** A Gateway API rule's URLRewrite and RequestHeaderModifier. */
  rewrite?: RequestRewrite | undefined;
  /** A Gateway API rule's ResponseHeaderModifier. */
  responseEdit?: HeaderEdit | undefined;
}

/** The request head for the next hop: the client's header block minus hop-by-hop headers, as a rule's filters change it. */
export function upstreamHead(ex: ServerExchange, o: H1RelayOptions): Buffer {
  const h = ex.head;
  const rw = o.rewrite;
  const edited = editBlock(rw?.edit, o.extra, o.drop, rw?.authority === undefined ? undefined : { host: rw.authority });
  return requestHeadBytes(h.method, rw?.url ?? h.target, forwardHeaders(h.raw, h.headers.connection, { ...(edited.extra ? { extra: edited.extra } : {}), ...(edited.drop ? { drop: edited.drop } : {}) }));
}

/**
 * A header edit on the raw path: what it sets or removes is dropped from the
 * forwarded block, what it sets or adds is written after it (a second line of
 * the same name is how HTTP/1.1 appends a value).
 */
export function editBlock(e: HeaderEdit | undefined, extra: Readonly<Record<string, string>> | undefined, drop: ReadonlySet<string> | undefined, replace?: Record<string, string>): { extra: Readonly<Record<string, string>> | undefined; drop: ReadonlySet<string> | undefined } {
  if (!e && !replace) return { extra, drop };
  const d = new Set(drop);
  const x: Record<string, string> = { ...extra };
  for (const k in replace) { d.add(k); x[k] = replace[k]!; }
  for (const h of e?.set ?? []) { d.add(h.name); x[h.name] = h.value; }
  for (const h of e?.add ?? []) x[h.name] = x[h.name] === undefined ? h.value : `${x[h.name]},${h.value}`;
  for (const n of e?.remove ?? []) { d.add(n); delete x[n]; }
  return { extra: x, drop: d };
}

/** The proxy's own answer (status, `skein-proxy-error`), or a closed connection if an answer already started. */
export function sendError(ex: ServerExchange, err: ProxyError): Outcome {
  if (ex.responded || ex.finished) {
    ex.destroy();
    return { status: 502, error: err };
  }
  const r = errorResponse(err, ex.headers);
  const body = Buffer.from(r.body ?? '', 'utf8');
  let block = '';
  for (const k in r.headers) block += `${k}: ${r.headers[k]}\r\n`;
  block += `content-length: ${body.length}\r\n`;
  const close = !ex.bodyDone;
  if (close) block += 'connection: close\r\n';
  ex.respond(responseHeadBytes(r.status, '', block), close);
  if (body.length > 0) ex.write(body);
  ex.end();
  return { status: r.status, error: err };
}

/** The proxy's own answer that is no error (a route's redirect): a status and headers, no body. */
export function sendAnswer(ex: ServerExchange, status: number, headers: Record<string, string>): Outcome {
  if (ex.responded || ex.finished) { ex.destroy(); return { status: 502 }; }
  let block = '';
  for (const k in headers) block += `${k}: ${headers[k]}\r\n`;
  block += 'content-length: 0\r\n';
  const close = !ex.bodyDone;
  if (close) block += 'connection: close\r\n';
  ex.respond(responseHeadBytes(status, '', block), close);
  ex.end();
  return { status };
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export async function relayH1(ex: ServerExchange, up: H1Upstream, o: H1RelayOptions = {}): Promise<Outcome> {
  const head = upstreamHead(ex, o);
  const streamed = o.body === undefined && ex.hasBody;
  for (let attempt = 0; ; attempt++) {
    let conn: UpstreamConnection;
    try {
      conn = await up.pool.acquire(up.key, up.dial);
    } catch (err) {
      const e = toProxyError(err);
      // Nothing left this proxy (the body, if any, is still unread): any attempt elsewhere is safe.
      if (o.retry?.unsent()) return { status: e.status, error: e, retried: true };
      return sendError(ex, e);
    }
    if (ex.finished) { up.pool.release(up.key, conn); return { status: 499, error: new ProxyError('upstream_reset', 'the client closed the request') }; }
    const reused = conn.uses > 0;
    const outcome = await exchange(ex, conn, head, o, streamed);
    // The endpoint had closed this idle connection as the request left: nothing reached it, so try a fresh one once.
    if (outcome !== STALE) return outcome;
    if (attempt === 0 && reused && IDEMPOTENT.has(ex.method)) continue;
    // A peer proxy closes a keep-alive connection only while it is idle (drain, idle timeout) and reads nothing after:
    // the request was not processed, so, like a refused h2 stream, it may go to another endpoint whatever its method.
    const e = new ProxyError('connect_failed', 'the endpoint closed the connection before answering');
    if (!streamed && o.retry?.unsent()) return { status: e.status, error: e, retried: true };
    return sendError(ex, e);
  }
}

/** A reused connection closed before any byte of an answer and before the body was streamed. */
const STALE: Outcome = { status: 502 };

function exchange(ex: ServerExchange, conn: UpstreamConnection, head: Buffer, o: H1RelayOptions, streamed: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    let status = 0;
    let bodyStarted = false;
    const timer = o.responseTimeoutMs === undefined ? undefined : setTimeout(() => fail(new ProxyError('response_timeout', `no response within ${o.responseTimeoutMs} ms`), false), o.responseTimeoutMs);
    const finish = (out: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ex.onAbort = undefined;
      resolve(out);
    };
    const fail = (err: unknown, received: boolean) => {
      if (done) return;
      conn.abort();
      if (status !== 0) { ex.destroy(); finish({ status, error: toProxyError(err) }); return; }
      if (!received && !bodyStarted && conn.uses > 0 && !(err instanceof ProxyError)) { finish(STALE); return; }
      const e = toProxyError(err);
      if (o.retry && !streamed && o.retry.shouldRetry(e.status, undefined, e)) { finish({ status: e.status, error: e, retried: true }); return; }
      finish(sendError(ex, e));
    };
    ex.onAbort = () => {
      conn.abort();
      finish({ status: 499, error: new ProxyError('upstream_reset', 'the client closed the request') });
    };
    const handler: ResponseHandler = {
      // Expect: 100-continue: the endpoint's go-ahead reaches the waiting client; other interim answers (103) are dropped.
      onInformational(h: ResponseHead) { if (h.status === 100) ex.continue(); },
      onHead(h: ResponseHead) {
        clearTimeout(timer);
        if (done) return false;
        if (o.retry?.shouldRetry(h.status, h.headers, undefined)) {
          const peerError = h.headers[PROXY_ERROR];
          finish({ status: h.status, retried: true, ...(typeof peerError === 'string' ? { peerError } : {}) });
          return false;
        }
        status = h.status;
        // A body that runs to the close, or a client that asked to close, ends the client's connection after it.
        const close = h.framing.kind === 'close' || !ex.head.keepAlive;
        const edited = editBlock(o.responseEdit, undefined, undefined);
        ex.respond(responseHeadBytes(h.status, h.reason, forwardHeaders(h.raw, h.headers.connection, { close, ...(edited.extra ? { extra: edited.extra } : {}), ...(edited.drop ? { drop: edited.drop } : {}) })), close);
        return true;
      },
      onData(b: Buffer) {
        if (ex.write(b)) return true;
        ex.onDrain(() => conn.resume());
        return false;
      },
      onEnd() {
        // Answered before the client's body was all sent (a refused Expect: 100-continue): the client's connection
        // closes unread (server.ts), so the endpoint's request never ends and its connection cannot be reused.
        if (streamed && !ex.bodyDone) conn.abort();
        ex.end();
        finish({ status });
      },
      onError(err: Error, received: boolean) { fail(err, received); },
    };
    if (!streamed) {
      conn.request(head, ex.method, handler, o.body, true);
      return;
    }
    conn.request(head, ex.method, handler, undefined, false);
    ex.readBody((b) => {
      bodyStarted = true;
      if (conn.write(b)) return true;
      conn.socket.once('drain', () => ex.resumeBody());
      return false;
    }, () => conn.endRequest());
  });
}
