// What a proxy asks about: the destination as the app addressed it. Parsed
// once at the edge so resolution only ever sees a well-formed target.
import { isIP } from 'node:net';
import { SkeinError } from '../../api/errors.ts';

export type Target =
  | { kind: 'ip'; ip: string; port: number }
  | { kind: 'name'; name: string; namespace: string; port: number };

export class TargetError extends SkeinError {
  readonly code = 'target_malformed';
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `ip:port`, `[v6]:port` or `name.ns.svc.<clusterDomain>:port`. A host name
 * that is not a Service name in this cluster is not an error: it parses to
 * `undefined`, and the caller answers "nothing lives there".
 */
export function parseTarget(raw: string, clusterDomain: string): Target | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw.trim());
  if (!m) throw new TargetError(`target "${raw}" is not host:port; send "10.96.0.10:80", "[fd00::1]:80" or "name.namespace.svc.${clusterDomain}:80"`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new TargetError(`target "${raw}" has port ${port}; a port is 1-65535`);
  const v6 = m[1];
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) throw new TargetError(`target "${raw}": "${v6}" in brackets is not an IPv6 address`);
    return { kind: 'ip', ip: v6, port };
  }
  const host = (m[2] ?? '').toLowerCase();
  if (isIP(host) === 4) return { kind: 'ip', ip: host, port };
  const suffix = `.svc.${clusterDomain}`;
  const bare = host.endsWith('.') ? host.slice(0, -1) : host;
  if (!bare.endsWith(suffix)) return undefined;
  const parts = bare.slice(0, -suffix.length).split('.');
  const [name, namespace] = parts;
  if (parts.length !== 2 || name === undefined || namespace === undefined || !DNS_LABEL.test(name) || !DNS_LABEL.test(namespace)) return undefined;
  return { kind: 'name', name, namespace, port };
}

/** One spelling per target, so two proxies asking the same thing share one resolution. */
export function targetKey(t: Target): string {
  return t.kind === 'ip' ? `${t.ip.includes(':') ? `[${t.ip}]` : t.ip}:${t.port}` : `${t.name}.${t.namespace}:${t.port}`;
}
