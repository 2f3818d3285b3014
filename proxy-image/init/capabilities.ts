// A check before touching iptables: without CAP_NET_ADMIN every backend fails,
// each with its own cryptic message (legacy even claims the nat table does
// not exist), so say the real reason once, up front.
import { InitError } from './errors.ts';
import { NET_ADMIN_HINT } from './iptables.ts';

const CAP_NET_ADMIN = 12n;

/** The effective capability set from /proc/self/status; undefined when the line is absent. */
export function effectiveCapabilities(procStatus: string): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus);
  return m?.[1] === undefined ? undefined : BigInt(`0x${m[1]}`);
}

export function requireNetAdmin(procStatus: string): void {
  const caps = effectiveCapabilities(procStatus);
  // Unknown (no /proc): let iptables itself say whether it may.
  if (caps === undefined || (caps >> CAP_NET_ADMIN) & 1n) return;
  throw new InitError('permission_denied', `this process lacks the NET_ADMIN capability (CapEff ${caps.toString(16)}): ${NET_ADMIN_HINT}`);
}
