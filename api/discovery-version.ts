// Version skew on the discovery API (api/discovery-protocol.ts): which proxy
// may talk to which control plane, decided per stream from two request
// headers and answered in one response header. Kept apart from the message
// schemas so that adding a message field and moving the window stay separate
// changes.
//
// The window, as Linkerd states its own: the control plane may be one version
// ahead of the data plane (and, for the minutes of a rollout, one behind).
// Each side sends the newest version it speaks and the oldest it still reads;
// the stream speaks the newest version both know, or is refused with a reason
// code when their ranges do not meet. A peer that sends no header predates
// negotiation and speaks version 1, the protocol as it was then.
//
// Capabilities name optional features inside a version (a message field a
// newer proxy understands): the client lists the ones it reads, the server
// answers with those it will use for that stream. A name either side does not
// know is ignored, never an error: that is what lets one side add a feature
// before the other.

/** The newest discovery protocol version this build speaks. */
export const PROTOCOL_VERSION = 2;
/** The oldest version this build still serves (server) or reads (proxy): the skew window is [MIN, PROTOCOL_VERSION]. */
export const MIN_PROTOCOL_VERSION = 1;
/** A peer without the version headers: every build before negotiation existed. */
export const UNVERSIONED = 1;

/** Request: the newest version the client speaks. Response: the version the stream speaks. */
export const VERSION_HEADER = 'skein-discovery-version';
/** Request: the oldest version the client reads. */
export const MIN_VERSION_HEADER = 'skein-discovery-min-version';
/** Request: the optional features the client reads. Response: those the server will use. Comma-separated. */
export const CAPABILITIES_HEADER = 'skein-discovery-capabilities';

/**
 * The optional features this build knows. Everything version 1 carried
 * (profiles, splits with matches, inbound policy) is implied by the version
 * and is not listed.
 */
export const CAPABILITIES = ['version-negotiation'] as const;

export interface VersionRange { min: number; max: number }
export const OWN_RANGE: VersionRange = { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION };

export type SkewCode = 'protocol_version_malformed' | 'protocol_version_unsupported';

export class SkewError extends Error {
  readonly code: SkewCode;
  constructor(code: SkewCode, message: string) {
    super(message);
    this.name = 'SkewError';
    this.code = code;
  }
}

export interface Negotiated { version: number; capabilities: string[] }

type HeaderValue = string | string[] | undefined;
const one = (v: HeaderValue): string | undefined => (Array.isArray(v) ? v.join(',') : v);

/** A version header's value: absent is `fallback`; anything but a positive integer is malformed. */
function parseVersion(name: string, value: HeaderValue, fallback: number): number {
  const raw = one(value)?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^[1-9][0-9]{0,5}$/.test(raw)) throw new SkewError('protocol_version_malformed', `header ${name} is "${raw.slice(0, 40)}"; it must be a positive integer such as ${PROTOCOL_VERSION}`);
  return Number(raw);
}

/** The peer's range as its headers state it; no headers is a version-1 peer. */
export function peerRange(headers: Record<string, HeaderValue>): VersionRange {
  const max = parseVersion(VERSION_HEADER, headers[VERSION_HEADER], UNVERSIONED);
  const min = parseVersion(MIN_VERSION_HEADER, headers[MIN_VERSION_HEADER], max);
  if (min > max) throw new SkewError('protocol_version_malformed', `header ${MIN_VERSION_HEADER} (${min}) is above ${VERSION_HEADER} (${max})`);
  return { min, max };
}

export function parseCapabilities(value: HeaderValue): string[] {
  const names = (one(value) ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(s));
  return [...new Set(names)].slice(0, 64);
}

/** The newest version both ranges contain, or a refusal that says which side to upgrade. */
export function negotiate(own: VersionRange, peer: VersionRange, ownRole: 'server' | 'client'): number {
  const version = Math.min(own.max, peer.max);
  if (version >= own.min && version >= peer.min) return version;
  const [server, client] = ownRole === 'server' ? [own, peer] : [peer, own];
  const upgrade = client.max < server.min ? 'the proxy is too old for this control plane: restart the workload so it gets the current proxy'
    : 'the control plane is too old for this proxy: upgrade the control plane first (it may be one version ahead of the proxies, not behind)';
  throw new SkewError('protocol_version_unsupported', `discovery protocol versions do not overlap: the control plane speaks ${server.min}-${server.max}, the proxy ${client.min}-${client.max}; ${upgrade}`);
}

/** Server side: what a request's headers negotiate with this build, or a SkewError. */
export function negotiateRequest(headers: Record<string, HeaderValue>, own: VersionRange = OWN_RANGE, known: readonly string[] = CAPABILITIES): Negotiated {
  const version = negotiate(own, peerRange(headers), 'server');
  const capabilities = parseCapabilities(headers[CAPABILITIES_HEADER]).filter((c) => known.includes(c));
  return { version, capabilities };
}

/** Client side: the headers a request carries. */
export function requestHeaders(own: VersionRange = OWN_RANGE, capabilities: readonly string[] = CAPABILITIES): Record<string, string> {
  return { [VERSION_HEADER]: String(own.max), [MIN_VERSION_HEADER]: String(own.min), [CAPABILITIES_HEADER]: capabilities.join(',') };
}

/** Server side: the headers of a 200 answer. */
export function responseHeaders(n: Negotiated): Record<string, string> {
  return { [VERSION_HEADER]: String(n.version), [CAPABILITIES_HEADER]: n.capabilities.join(',') };
}

/**
 * Client side: the stream's version from the server's answer. A server that
 * states none predates negotiation (version 1); one that states a version
 * outside this client's range is refused here, whatever it sends after.
 */
export function acceptResponse(headers: Record<string, HeaderValue>, own: VersionRange = OWN_RANGE): Negotiated {
  const stated = parseVersion(VERSION_HEADER, headers[VERSION_HEADER], UNVERSIONED);
  const version = negotiate(own, { min: stated, max: stated }, 'client');
  return { version, capabilities: parseCapabilities(headers[CAPABILITIES_HEADER]) };
}
