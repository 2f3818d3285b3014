// The per-request routing override: `skein-route: <service> => <service>`
// sends one request meant for the left Service to the right one's endpoints
// (a developer's own requests to a staging version), same port.
//
// Trust rule: the header means "route me elsewhere", so only a meshed,
// authorized caller may set it. The outbound proxy acts on it because its
// client is its own app; the app can only carry it if it reached the app,
// and the inbound proxy lets it reach the app only over mutual TLS from an
// admitted identity (stripped from plaintext and from refused clients). It
// stays on the request (apps propagate it like a tracing header, so a whole
// call chain follows the developer). The hole is a pod whose app receives
// traffic around the proxy (skipped inbound ports: ingress controllers):
// it could forward an outsider's header, so an outbound proxy in a pod
// with skipped inbound ports ignores the header altogether.
import type { Update } from '../../api/discovery-protocol.ts';

export const ROUTE_OVERRIDE = 'skein-route';

export interface RouteOverride { from: string; to: string }

/** `a => b`; undefined when malformed (a bad header is ignored, never an error). */
export function parseRouteOverride(value: string | string[] | undefined): RouteOverride | undefined {
  if (typeof value !== 'string') return undefined;
  const i = value.indexOf('=>');
  if (i < 0) return undefined;
  const from = value.slice(0, i).trim().toLowerCase();
  const to = value.slice(i + 2).trim().toLowerCase();
  const name = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  return name.test(from) && name.test(to) ? { from, to } : undefined;
}

/** `name`, `name.ns`, `name.ns.svc` or `name.ns.svc.<domain>` resolved against the destination's namespace. */
function qualify(service: string, namespace: string, clusterDomain: string): string {
  const parts = service.split('.');
  if (parts.length === 1) return `${service}.${namespace}.svc.${clusterDomain}`;
  if (parts.length === 2) return `${service}.svc.${clusterDomain}`;
  if (parts.length === 3 && parts[2] === 'svc') return `${service}.${clusterDomain}`;
  return service;
}

/**
 * The discovery target the request goes to instead, or undefined when the
 * override does not name this destination's Service (then it is ignored).
 */
export function overrideTarget(o: RouteOverride, u: Update | undefined, clusterDomain: string): string | undefined {
  const svc = u?.service;
  if (!svc) return undefined;
  const self = `${svc.name}.${svc.namespace}.svc.${clusterDomain}`;
  if (qualify(o.from, svc.namespace, clusterDomain) !== self) return undefined;
  const to = qualify(o.to, svc.namespace, clusterDomain);
  return to === self ? undefined : `${to}:${svc.port}`;
}
