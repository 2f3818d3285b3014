// Errors the proxy answers for itself: each has a stable code (it goes in the
// `skein-proxy-error` header and in metrics), an HTTP status and, for gRPC
// clients, a grpc-status, so a caller can tell the proxy's 502 from its app's.
import type { IncomingHttpHeaders } from 'node:http';
import { isGrpc, PROXY_ERROR } from './headers.ts';
import { SkeinError, messageOf } from '../../api/errors.ts';

export const PROXY_ERRORS = {
  'malformed_request': { status: 400, grpc: 13, message: 'the request is not valid HTTP' },
  'no_route': { status: 404, grpc: 12, message: 'no rule of the routes attached to this Service matches the request' },
  'backend_not_found': { status: 500, grpc: 13, message: "the route's backend for this request does not exist (see the route's ResolvedRefs condition)" },
  'unauthorized': { status: 403, grpc: 7, message: 'no authorization policy admits this client on this port' },
  'no_endpoint': { status: 502, grpc: 14, message: 'the destination has no endpoint' },
  'connect_failed': { status: 502, grpc: 14, message: 'the endpoint refused or dropped the connection' },
  'peer_identity_mismatch': { status: 502, grpc: 14, message: 'the endpoint did not present the identity discovery named' },
  'tls_failed': { status: 502, grpc: 14, message: 'mutual TLS with the endpoint failed' },
  'upstream_reset': { status: 502, grpc: 14, message: 'the endpoint reset the request' },
  'no_ready_endpoint': { status: 503, grpc: 14, message: 'the destination has no ready endpoint' },
  'no_identity': { status: 503, grpc: 14, message: 'the proxy has no workload certificate yet' },
  'connect_timeout': { status: 504, grpc: 4, message: 'connecting to the endpoint timed out' },
  'response_timeout': { status: 504, grpc: 4, message: 'the endpoint did not answer in time' },
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

export class ProxyError extends SkeinError {
  readonly code: ProxyErrorCode;
  constructor(code: ProxyErrorCode, detail?: string, options?: ErrorOptions) {
    super(detail ? `${PROXY_ERRORS[code].message}: ${detail}` : PROXY_ERRORS[code].message, options);
    this.name = 'ProxyError';
    this.code = code;
  }
  get status(): number {
    return PROXY_ERRORS[this.code].status;
  }
}

/** Maps what Node reports when dialling or talking to an endpoint onto the proxy's codes. */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = messageOf(err);
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new ProxyError('peer_identity_mismatch', message, { cause: err });
    case 'ETIMEDOUT':
    case 'ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new ProxyError('connect_timeout', message, { cause: err });
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_HTTP2_GOAWAY_SESSION':
    case 'ERR_HTTP2_INVALID_SESSION':
      return new ProxyError('connect_failed', message, { cause: err });
    case 'ERR_HTTP2_STREAM_ERROR':
    case 'ERR_HTTP2_STREAM_CANCEL':
      return new ProxyError('upstream_reset', message, { cause: err });
    default:
      if (typeof code === 'string' && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('UNABLE_TO') || code.startsWith('DEPTH_ZERO'))) {
        return new ProxyError('tls_failed', message, { cause: err });
      }
      return new ProxyError('connect_failed', message, { cause: err });
  }
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  /** False for gRPC: the answer is trailers-only (grpc-status in the one HEADERS frame). */
  body: string | undefined;
}

/** What the proxy sends for an error, shaped for the caller's protocol. Pure. */
export function errorResponse(err: ProxyError, requestHeaders: IncomingHttpHeaders): ErrorResponse {
  const e = PROXY_ERRORS[err.code];
  if (isGrpc(requestHeaders)) {
    return {
      status: 200,
      headers: { 'content-type': 'application/grpc', 'grpc-status': String(e.grpc), 'grpc-message': encodeURIComponent(err.message), [PROXY_ERROR]: err.code },
      body: undefined,
    };
  }
  return { status: e.status, headers: { 'content-type': 'text/plain; charset=utf-8', [PROXY_ERROR]: err.code }, body: `${err.message}\n` };
}
