// Header rules for a forwarding proxy: hop-by-hop headers belong to one
// connection and never cross the proxy (RFC 9110 §7.6.1); HTTP/2 forbids them
// outright, so the same filter serves the h1 <-> h2 translation. Pure functions.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Always connection-specific, whatever the request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'transfer-encoding', 'upgrade', 'te', 'http2-settings', 'host']);

/** Marks a request an outbound proxy carried over h2 that the client sent as HTTP/1.1 (Linkerd's l5d-orig-proto). */
export const ORIG_PROTO = 'skein-orig-proto';
/** On a response the proxy produced itself; says why. */
export const PROXY_ERROR = 'skein-proxy-error';
/** The verified identity of the calling workload, set by the inbound proxy for the app. */
export const CLIENT_ID = 'skein-client-id';

/**
 * Copies headers without pseudo-headers, hop-by-hop headers and any header the
 * `Connection` header names. `TE: trailers` survives (gRPC needs it); Host is
 * dropped here because callers carry the authority themselves (`:authority`
 * on h2, `Host` on h1) so it is never lost nor doubled.
 */
export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  // Most requests name nothing in Connection: no token set to build then.
  const named = headers.connection === undefined ? NO_TOKENS : connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === COLON) continue;
    if (name === 'te') {
      if (hasToken(value, 'trailers')) out.te = 'trailers';
      continue;
    }
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export function isGrpc(headers: IncomingHttpHeaders): boolean {
  return (headers['content-type'] ?? '').startsWith('application/grpc');
}

/** The authority a request was addressed to, from whichever header its protocol uses. */
export function authorityOf(headers: IncomingHttpHeaders): string | undefined {
  const a = headers[':authority'] ?? headers.host;
  return typeof a === 'string' && a !== '' ? a : undefined;
}

const NO_TOKENS: ReadonlySet<string> = new Set();
const COLON = 0x3a;

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    for (const t of v.split(',')) if (t.trim() !== '') out.add(t.trim().toLowerCase());
  }
  return out;
}

function hasToken(value: string | string[], token: string): boolean {
  return connectionTokens(value).has(token);
}
