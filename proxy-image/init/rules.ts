// The nat rules skein-init writes in a pod's network namespace, as
// `iptables-restore --noflush` input. Pure: the same options and the same
// current ruleset always give the same text, which is what makes a second run
// a no-op.
//
// Why these rules:
// - Chains of our own, declared in the input: iptables-restore creates a
//   declared chain that is missing and flushes one that exists, so a rerun
//   replaces our rules instead of stacking them, and nobody else's rules move.
// - One jump per built-in hook, added only when the current ruleset lacks it:
//   a restore file cannot say "append if missing", so the caller passes what
//   `iptables-save -t nat` shows now.
// - REDIRECT, not DNAT: REDIRECT sends OUTPUT traffic to 127.0.0.1 and
//   PREROUTING traffic to the receiving interface's own address, both of which
//   the proxy can listen on without route_localnet or knowing the pod IP.
// - The proxy's uid first, so its own connections (to endpoints, to the app on
//   127.0.0.1) never loop back into it, with one exception: the proxy dialling
//   its own pod's IP (the pod is an endpoint of a Service it calls) goes to the
//   inbound proxy, as a peer's connection would. Locally generated traffic
//   never passes PREROUTING's nat, so without this the outbound proxy's mTLS
//   would reach the app's plaintext port and fail (seen as tls_failed for every
//   request the Gateway API conformance suite's client sent to itself).
//   linkerd-init has the same rule. The app behind 127.0.0.1 stays direct.
// - Everything leaving through `lo` untouched: 127.0.0.1 and the pod's own IP
//   (the kernel routes both over lo). The app talking to itself is not meshed,
//   the same trade linkerd-init makes; it keeps health checks and sidecars that
//   call localhost working.
// - Only TCP: UDP (DNS) goes straight out.
// - Connections straight to the inbound proxy port are left alone, so a peer
//   proxy's mTLS to :4143 needs no NAT and the proxy's own ports can never be
//   redirected onto themselves.
import type { PortRange } from '../../api/port-ranges.ts';
import type { Family } from './backend.ts';

const LOOPBACK: Record<Family, string> = { 4: '127.0.0.1/32', 6: '::1/128' };

export const CHAINS = {
  prerouting: 'SKEIN_PREROUTING',
  inboundRedirect: 'SKEIN_INBOUND_REDIRECT',
  output: 'SKEIN_OUTPUT',
  outboundRedirect: 'SKEIN_OUTBOUND_REDIRECT',
} as const;

export interface RuleOptions {
  /** Where redirected inbound connections go (the proxy's 4143). */
  inboundPort: number;
  /** Where redirected outbound connections go (the proxy's 4140). */
  outboundPort: number;
  /** The proxy runs as this uid; its traffic is never redirected. */
  proxyUid: number;
  /** Inbound destination ports that reach the app directly (the proxy's own control and admin ports among them). */
  skipInboundPorts: readonly PortRange[];
  /** Outbound destination ports that leave the pod without the proxy. */
  skipOutboundPorts: readonly PortRange[];
}

/** The kernel's multiport match takes at most 15 ports, a range counting as two. */
const MULTIPORT_LIMIT = 15;

/** Port ranges as `--dports` arguments, split so that no rule exceeds the multiport limit. */
export function multiportGroups(ranges: readonly PortRange[]): string[] {
  const groups: string[] = [];
  let current: string[] = [];
  let weight = 0;
  for (const r of ranges) {
    const cost = r.from === r.to ? 1 : 2;
    if (weight + cost > MULTIPORT_LIMIT) {
      groups.push(current.join(','));
      current = [];
      weight = 0;
    }
    current.push(r.from === r.to ? String(r.from) : `${r.from}:${r.to}`);
    weight += cost;
  }
  if (current.length > 0) groups.push(current.join(','));
  return groups;
}

function comment(name: string): string {
  return `-m comment --comment "skein/${name}"`;
}

function skipRules(chain: string, ranges: readonly PortRange[], name: string): string[] {
  return multiportGroups(ranges).map((ports) => `-A ${chain} -p tcp -m multiport --dports ${ports} ${comment(name)} -j RETURN`);
}

/** True when `-A <hook> ... -j <chain>` is already in an `iptables-save -t nat` dump. */
export function hasJump(natDump: string, hook: string, chain: string): boolean {
  return natDump.split('\n').some((line) => line.startsWith(`-A ${hook} `) && new RegExp(`(^| )-j ${chain}( |$)`).test(line));
}

/** `iptables-restore --noflush` input for the nat table, given what `iptables-save -t nat` shows now. */
export function natRestoreInput(options: RuleOptions, currentNatDump: string, family: Family = 4): string {
  const { prerouting, inboundRedirect, output, outboundRedirect } = CHAINS;
  const inboundSkips: PortRange[] = [{ from: options.inboundPort, to: options.inboundPort }, ...options.skipInboundPorts];
  const jumps = [
    { hook: 'PREROUTING', chain: prerouting, name: 'install-prerouting' },
    { hook: 'OUTPUT', chain: output, name: 'install-output' },
  ].filter((j) => !hasJump(currentNatDump, j.hook, j.chain));
  return [
    '*nat',
    ...Object.values(CHAINS).map((chain) => `:${chain} - [0:0]`),
    `-A ${inboundRedirect} -p tcp ${comment('redirect-inbound')} -j REDIRECT --to-ports ${options.inboundPort}`,
    `-A ${outboundRedirect} -p tcp ${comment('redirect-outbound')} -j REDIRECT --to-ports ${options.outboundPort}`,
    ...skipRules(prerouting, inboundSkips, 'skip-inbound-ports'),
    `-A ${prerouting} -p tcp ${comment('inbound')} -j ${inboundRedirect}`,
    `-A ${output} -o lo ! -d ${LOOPBACK[family]} -p tcp -m owner --uid-owner ${options.proxyUid} ${comment('proxy-to-own-pod')} -j ${prerouting}`,
    `-A ${output} -m owner --uid-owner ${options.proxyUid} ${comment('ignore-proxy-uid')} -j RETURN`,
    `-A ${output} -o lo ${comment('ignore-loopback')} -j RETURN`,
    ...skipRules(output, options.skipOutboundPorts, 'skip-outbound-ports'),
    `-A ${output} -p tcp ${comment('outbound')} -j ${outboundRedirect}`,
    ...jumps.map((j) => `-A ${j.hook} ${comment(j.name)} -j ${j.chain}`),
    'COMMIT',
    '',
  ].join('\n');
}

/** Our part of an `iptables-save -t nat` dump: our chains, their rules and the jumps into them. */
export function skeinRules(natDump: string): string[] {
  const ours = Object.values(CHAINS);
  return natDump.split('\n').filter((line) => ours.some((chain) => line.startsWith(`:${chain} `) || line.includes(` ${chain} `) || line.endsWith(` ${chain}`)));
}
