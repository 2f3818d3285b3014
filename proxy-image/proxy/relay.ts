// Moves one HTTP exchange from a downstream request (HTTP/1.1 or HTTP/2, via
// Node's compatibility API, so both look alike) to an upstream (an HTTP/2
// session or an HTTP/1.1 agent) and the response back: bodies streamed with
// backpressure both ways, trailers, 100-continue, hop-by-hop headers dropped,
// the authority kept. Errors before the response head become the proxy's own
// answer; after it, the downstream stream is reset (a status cannot change).
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Http2ServerResponse, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ProxyError, errorResponse, toProxyError } from './errors.ts';
import { authorityOf, endToEndHeaders, PROXY_ERROR } from './headers.ts';
import type { HeaderEdit } from '../../api/discovery-protocol.ts';
import { editHeaders } from './gateway-routes.ts';
import type { RequestRewrite } from './route.ts';

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
export type DownstreamResponse = ServerResponse | Http2ServerResponse;

export interface Outcome {
  /** The status the client saw (the proxy's own on error). */
  status: number;
  grpcStatus?: number;
  error?: ProxyError;
  /** The answer was kept from the client because `RelayOptions.retry` asked for another attempt; nothing was written. */
  retried?: true;
  /** With `retried`: the proxy's own error code the peer answered with (`skein-proxy-error`), if any. */
  peerError?: string;
}

export interface RequestHead {
  method: string;
  path: string;
  authority: string | undefined;
  /** End-to-end headers only. */
  headers: OutgoingHttpHeaders;
}

/** The head to send upstream; the relay functions take ownership of it (its headers object is reused, not copied). */
export function requestHead(req: DownstreamRequest, extra?: OutgoingHttpHeaders): RequestHead {
  const headers = endToEndHeaders(req.headers);
  if (extra) Object.assign(headers, extra);
  return { method: req.method ?? 'GET', path: req.url ?? '/', authority: authorityOf(req.headers), headers };
}

export interface RelayOptions {
  /** Time allowed until the response head arrives; 504 after it. Absent: no limit. */
  responseTimeoutMs?: number | undefined;
  /** The request body, already read (a replayable attempt): sent instead of piping the request. */
  body?: Buffer | undefined;
  /**
   * Asked before a response head (or an error before it) reaches the client;
   * true keeps it from the client, aborts the upstream and resolves with
   * `retried`, so the caller can try again. Absent: everything goes through.
   */
  retry?: RetryGate | undefined;
  /** A Gateway API rule's URLRewrite and RequestHeaderModifier (route.ts). */
  rewrite?: RequestRewrite | undefined;
  /** A Gateway API rule's ResponseHeaderModifier. */
  responseEdit?: HeaderEdit | undefined;
}

/** The head sent upstream as a rule's filters change it: headers edited, path and authority replaced. */
export function rewriteHead(head: RequestHead, rw: RequestRewrite | undefined): RequestHead {
  if (!rw) return head;
  if (rw.edit) editHeaders(head.headers, rw.edit);
  if (rw.url !== undefined) head.path = rw.url;
  if (rw.authority !== undefined) head.authority = rw.authority;
  return head;
}

/** An object, not a closure, so a request makes its retry state once (retries.ts RequestRetries). */
export interface RetryGate {
  shouldRetry(status: number, headers: IncomingHttpHeaders | undefined, err: ProxyError | undefined): boolean;
  /** The endpoint never processed the request (see `refusedUnprocessed`): true tries it elsewhere, whatever its method. */
  unsent(): boolean;
}

/**
 * A stream the endpoint never processed: refused with RST_STREAM
 * REFUSED_STREAM, or (the same code, set by nghttp2) above the last-stream-id
 * of a GOAWAY, which is what a draining peer proxy sends when its pod
 * terminates; or opened on a session that had already received GOAWAY or
 * closed, so that no frame of it left. RFC 9113 §8.7: safe to retry.
 */
export function refusedUnprocessed(rstCode: number | undefined, err?: unknown): boolean {
  if (rstCode === h2.NGHTTP2_REFUSED_STREAM) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION';
}

/** The proxy's own answer that is no error (a route's redirect): a status and headers, no body. */
export function sendAnswer(req: DownstreamRequest, res: DownstreamResponse, status: number, headers: Record<string, string>): Outcome {
  if (res.headersSent || res.destroyed) { destroyResponse(res); return { status: res.statusCode }; }
  req.resume();
  writeHead(res, status, { ...headers, 'content-length': '0' });
  res.end();
  return { status };
}

/** Answers with the proxy's own error (status, `skein-proxy-error`, grpc-status for gRPC) or resets if too late. */
export function sendProxyError(req: DownstreamRequest, res: DownstreamResponse, err: ProxyError): Outcome {
  const r = errorResponse(err, req.headers);
  if (res.headersSent || res.destroyed) {
    destroyResponse(res);
    return { status: res.statusCode, error: err };
  }
  if (res instanceof Http2ServerResponse && r.body === undefined) {
    // Trailers-only: one HEADERS frame with END_STREAM, as gRPC clients expect.
    res.stream.respond({ ':status': r.status, ...r.headers }, { endStream: true });
  } else {
    writeHead(res, r.status, r.headers);
    res.end(r.body ?? '');
  }
  const grpc = r.headers['grpc-status'];
  return { status: r.status, error: err, ...(grpc === undefined ? {} : { grpcStatus: Number(grpc) }) };
}

/**
 * Whether the downstream request carries a body. Most requests carry none,
 * and for them the upstream request is ended with its head (one HEADERS frame
 * with END_STREAM, one write) instead of piping an empty stream through.
 */
export function hasRequestBody(req: DownstreamRequest): boolean {
  if ('stream' in req) return !req.stream.endAfterHeaders;
  // HTTP/1.1 (RFC 9112 §6.3): a request without Content-Length or Transfer-Encoding has no body.
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function relayOverH2(session: ClientHttp2Session, head: RequestHead, req: DownstreamRequest, res: DownstreamResponse, o: RelayOptions = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const body = o.body ? o.body.length > 0 : hasRequestBody(req);
    let stream: ClientHttp2Stream;
    try {
      const headers = head.headers;
      headers[':method'] = head.method;
      headers[':path'] = head.path;
      headers[':scheme'] = 'http';
      if (head.authority) headers[':authority'] = head.authority;
      stream = session.request(headers, { endStream: !body });
    } catch (err) {
      // The session was closing (GOAWAY received) or gone: no byte of this request left.
      const e = toProxyError(err);
      resolve(o.retry?.unsent() || o.retry?.shouldRetry(e.status, undefined, e) ? { status: e.status, error: e, retried: true } : sendProxyError(req, res, e));
      return;
    }
    const exchange = new Exchange(req, res, resolve, () => stream.close(h2.NGHTTP2_CANCEL), o);
    if (body) stream.on('continue', () => exchange.continue());
    stream.on('response', (headers) => {
      if (exchange.head(Number(headers[':status']), headers, stream.endAfterHeaders) && !stream.endAfterHeaders) forwardBody(stream, res);
    });
    stream.on('trailers', (trailers: IncomingHttpHeaders) => exchange.trailers(trailers));
    stream.on('end', () => exchange.end());
    // A refused stream may go elsewhere unless its body was streamed from the client (and is partly consumed).
    const replayable = o.body !== undefined || !body;
    stream.on('error', (err) => exchange.fail(err, replayable && refusedUnprocessed(stream.rstCode, err)));
    stream.on('close', () => exchange.closed(stream.rstCode, replayable && refusedUnprocessed(stream.rstCode)));
    if (o.body) { if (body) stream.end(o.body); }
    else if (body) req.pipe(stream);
    else req.resume();
  });
}

export interface H1Target {
  agent: http.Agent | false;
  host: string;
  port: number;
  createConnection?: () => Socket;
}

export function relayOverH1(target: H1Target, head: RequestHead, req: DownstreamRequest, res: DownstreamResponse, o: RelayOptions = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const up = http.request({
      agent: target.agent, host: target.host, port: target.port, method: head.method, path: head.path, setHost: false,
      headers: head.authority ? Object.assign(head.headers, { host: head.authority }) : head.headers,
      ...(target.createConnection ? { createConnection: target.createConnection } : {}),
    });
    const exchange = new Exchange(req, res, resolve, () => up.destroy(), o);
    up.on('continue', () => exchange.continue());
    up.on('response', (upRes) => {
      if (!exchange.head(upRes.statusCode ?? 502, upRes.headers, false)) { upRes.resume(); return; }
      upRes.pipe(res, { end: false });
      upRes.on('end', () => {
        if (upRes.rawTrailers.length > 0) exchange.trailers(upRes.trailers);
        exchange.end();
      });
      upRes.on('error', (err) => exchange.fail(err));
    });
    up.on('error', (err) => exchange.fail(err));
    if (o.body) up.end(o.body);
    else if (hasRequestBody(req)) req.pipe(up);
    else {
      req.resume();
      up.end();
    }
  });
}

/** One request's state: exactly one outcome, whatever order the events come in. */
class Exchange {
  readonly #req: DownstreamRequest;
  readonly #res: DownstreamResponse;
  readonly #resolve: (o: Outcome) => void;
  readonly #abortUpstream: () => void;
  readonly #retry: RelayOptions['retry'];
  readonly #responseEdit: HeaderEdit | undefined;
  #status = 0;
  #grpcStatus: number | undefined;
  #done = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(req: DownstreamRequest, res: DownstreamResponse, resolve: (o: Outcome) => void, abortUpstream: () => void, o: RelayOptions) {
    this.#req = req;
    this.#res = res;
    this.#resolve = resolve;
    this.#abortUpstream = abortUpstream;
    this.#retry = o.retry;
    this.#responseEdit = o.responseEdit;
    if (o.responseTimeoutMs !== undefined) {
      this.#timer = setTimeout(() => this.fail(new ProxyError('response_timeout', `no response within ${o.responseTimeoutMs} ms`)), o.responseTimeoutMs);
    }
    // The client went away: stop the upstream work too.
    res.once('close', () => {
      if (!this.#done) {
        this.#abortUpstream();
        this.#finish({ status: 499, error: new ProxyError('upstream_reset', 'the client closed the request') });
      }
    });
  }

  continue(): void {
    if (!this.#res.headersSent) this.#res.writeContinue();
  }

  /** False when the answer was kept from the client for a retry: the caller must not pipe its body. */
  head(status: number, headers: IncomingHttpHeaders, endsHere: boolean): boolean {
    clearTimeout(this.#timer);
    if (this.#done) return false;
    if (this.#retry?.shouldRetry(status, headers, undefined)) {
      const peerError = headers[PROXY_ERROR];
      this.#abortUpstream();
      this.#finish({ status, retried: true, ...(typeof peerError === 'string' ? { peerError } : {}) });
      return false;
    }
    this.#status = status;
    this.#grpcStatus = grpcOf(headers) ?? this.#grpcStatus;
    const out = endToEndHeaders(headers);
    if (this.#responseEdit) editHeaders(out, this.#responseEdit);
    const res = this.#res;
    if (endsHere && res instanceof Http2ServerResponse) {
      res.stream.respond({ ...out, ':status': status }, { endStream: true });
      this.#finish({ status });
      return true;
    }
    writeHead(res, status, out);
    if (endsHere) this.end();
    return true;
  }

  trailers(trailers: IncomingHttpHeaders): void {
    this.#grpcStatus = grpcOf(trailers) ?? this.#grpcStatus;
    this.#res.addTrailers(endToEndHeaders(trailers));
  }

  end(): void {
    if (this.#done) return;
    this.#res.end();
    this.#finish({ status: this.#status });
  }

  /** The upstream stream closed; only an error if the exchange had not finished by then. */
  closed(rstCode: number | undefined, unprocessed = false): void {
    if (!this.#done) this.fail(new ProxyError('upstream_reset', `stream closed with code ${rstCode ?? 0}`), unprocessed);
  }

  /** `unprocessed`: the endpoint refused the request before processing it, so any method may be retried. */
  fail(err: unknown, unprocessed = false): void {
    if (this.#done) return;
    this.#abortUpstream();
    const e = toProxyError(err);
    const retry = this.#status === 0 && this.#retry !== undefined && ((unprocessed && this.#retry.unsent()) || this.#retry.shouldRetry(e.status, undefined, e));
    if (retry) this.#finish({ status: e.status, error: e, retried: true });
    else if (this.#status === 0) this.#finish(sendProxyError(this.#req, this.#res, e));
    else {
      destroyResponse(this.#res);
      this.#finish({ status: this.#status, error: e });
    }
  }

  #finish(o: Outcome): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#resolve(this.#grpcStatus === undefined || o.grpcStatus !== undefined ? o : { ...o, grpcStatus: this.#grpcStatus });
  }
}

function grpcOf(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['grpc-status'];
  return typeof v === 'string' ? Number(v) : undefined;
}

function writeHead(res: DownstreamResponse, status: number, headers: OutgoingHttpHeaders): void {
  if (res instanceof Http2ServerResponse) res.writeHead(status, headers);
  else res.writeHead(status, headers);
}

function writeChunk(res: DownstreamResponse, chunk: Buffer): boolean {
  return res instanceof Http2ServerResponse ? res.write(chunk) : res.write(chunk);
}

/**
 * An upstream body to the client, with backpressure. Not pipe(): for the one
 * or two chunks of a usual answer, pipe's listeners on both streams (and
 * their removal) cost more than the writes. The Exchange ends the response
 * and handles errors and a client that goes away.
 */
function forwardBody(from: Readable, to: DownstreamResponse): void {
  from.on('data', (chunk: Buffer) => {
    if (writeChunk(to, chunk)) return;
    from.pause();
    to.once('drain', () => from.resume());
  });
}

function destroyResponse(res: DownstreamResponse): void {
  if (res instanceof Http2ServerResponse) res.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}
