// Which iptables to write with. A pod's namespace must use the same backend
// as the rest of the node (mixing legacy and nft rules is the classic
// linkerd-init crash on RHEL, Bottlerocket and COS), and the kernel may offer
// only one of them. Like the kubernetes-sigs iptables-wrappers: whichever
// backend already holds more rules wins; with none anywhere (a fresh pod
// namespace), what the image's `iptables --version` names; nft otherwise.
import { InitError } from './errors.ts';
import type { IptablesMode } from './args.ts';
import type { Runner } from './iptables.ts';

export type Backend = 'nft' | 'legacy' | 'plain';
export type Family = 4 | 6;

export interface Commands { save: string; restore: string }

export function commandsFor(backend: Backend, family: Family): Commands {
  const base = family === 6 ? 'ip6tables' : 'iptables';
  const infix = backend === 'plain' ? '' : `-${backend}`;
  return { save: `${base}${infix}-save`, restore: `${base}${infix}-restore` };
}

export interface BackendProbe {
  /** Rules `iptables-nft-save` shows; undefined when it is missing or fails. */
  nftRules: number | undefined;
  legacyRules: number | undefined;
  /** `iptables --version` output; undefined when there is no plain `iptables`. */
  plainVersion: string | undefined;
}

export function countRules(dump: string): number {
  return dump.split('\n').filter((line) => line.startsWith('-A ')).length;
}

export function chooseBackend(probe: BackendProbe): Backend | undefined {
  const { nftRules, legacyRules, plainVersion } = probe;
  if (nftRules !== undefined && legacyRules !== undefined) {
    if (legacyRules !== nftRules) return legacyRules > nftRules ? 'legacy' : 'nft';
    return plainVersion?.includes('(legacy)') ? 'legacy' : 'nft';
  }
  if (nftRules !== undefined) return 'nft';
  if (legacyRules !== undefined) return 'legacy';
  return plainVersion === undefined ? undefined : 'plain';
}

async function rulesShown(run: Runner, save: string): Promise<number | undefined> {
  const result = await run(save, []);
  return result?.status === 0 ? countRules(result.stdout) : undefined;
}

export async function probeBackends(run: Runner): Promise<BackendProbe> {
  const version = await run('iptables', ['--version']);
  return {
    nftRules: await rulesShown(run, commandsFor('nft', 4).save),
    legacyRules: await rulesShown(run, commandsFor('legacy', 4).save),
    plainVersion: version?.status === 0 ? version.stdout.trim() : undefined,
  };
}

export async function detectBackend(run: Runner, mode: IptablesMode): Promise<Backend> {
  if (mode !== 'auto') return mode;
  const backend = chooseBackend(await probeBackends(run));
  if (backend === undefined) {
    throw new InitError('iptables_missing', 'found none of iptables-nft-save, iptables-legacy-save or iptables: '
      + 'the image running skein-init must ship iptables (Debian: apt-get install iptables)');
  }
  return backend;
}
