// skein-init's command line, as the webhook writes it (webhook/inject/sidecar.ts
// initContainer). Every flag is checked; a mistake is a usage_error naming the
// flag, never a half-written ruleset.
import { parseArgs } from 'node:util';
import { parsePortRanges } from '../../api/port-ranges.ts';
import { InitError } from './errors.ts';
import type { RuleOptions } from './rules.ts';

export const IPTABLES_MODES = ['auto', 'nft', 'legacy'] as const;
export type IptablesMode = (typeof IPTABLES_MODES)[number];

export interface InitOptions extends RuleOptions {
  /** Which iptables backend to write with; `auto` detects it (backend.ts). */
  iptablesMode: IptablesMode;
  /** Also write the same rules with ip6tables. */
  ipv6: boolean;
}

export const USAGE = `usage: skein-init --inbound-port 4143 --outbound-port 4140 --proxy-uid 2102
                  [--skip-inbound-ports 4190,4191,8000-8100] [--skip-outbound-ports 25,3306]
                  [--iptables-mode auto|nft|legacy] [--ipv6]`;

function usageError(message: string): InitError {
  return new InitError('usage_error', `${message}\n${USAGE}`);
}

function port(flag: string, value: string | undefined): number {
  if (value === undefined) throw usageError(`--${flag} is required`);
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw usageError(`--${flag} must be a port (1-65535), got "${value}"`);
  return n;
}

function uid(value: string | undefined): number {
  if (value === undefined) throw usageError('--proxy-uid is required');
  if (!/^\d+$/.test(value) || Number(value) > 2 ** 32 - 2) throw usageError(`--proxy-uid must be a numeric uid, got "${value}"`);
  return Number(value);
}

function ports(flag: string, value: string | undefined) {
  try {
    return parsePortRanges(value ?? '');
  } catch (err) {
    throw usageError(`--${flag}: ${(err as Error).message}`);
  }
}

export function parseInitArgs(argv: readonly string[]): InitOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'inbound-port': { type: 'string' },
        'outbound-port': { type: 'string' },
        'proxy-uid': { type: 'string' },
        'skip-inbound-ports': { type: 'string' },
        'skip-outbound-ports': { type: 'string' },
        'iptables-mode': { type: 'string', default: 'auto' },
        ipv6: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const mode = IPTABLES_MODES.find((m) => m === values['iptables-mode']);
  if (mode === undefined) throw usageError(`--iptables-mode must be one of ${IPTABLES_MODES.join(', ')}, got "${values['iptables-mode']}"`);
  return {
    inboundPort: port('inbound-port', values['inbound-port']),
    outboundPort: port('outbound-port', values['outbound-port']),
    proxyUid: uid(values['proxy-uid']),
    skipInboundPorts: ports('skip-inbound-ports', values['skip-inbound-ports']),
    skipOutboundPorts: ports('skip-outbound-ports', values['skip-outbound-ports']),
    iptablesMode: mode,
    ipv6: values.ipv6,
  };
}
