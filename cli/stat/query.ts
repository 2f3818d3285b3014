// What `kubectl skein stat` was asked: the resource kind and name, where,
// the --from/--to edge and the window, read from the command line words.
import { usageError } from '../errors.ts';

export type StatKind = 'deploy' | 'pod' | 'route';
export type EdgeKind = 'deploy' | 'pod';

export interface Edge { kind: EdgeKind; name: string; namespace: string }

export interface StatQuery {
  kind: StatKind;
  name?: string | undefined;
  /** Undefined with -A: every namespace. */
  namespace: string | undefined;
  from?: Edge | undefined;
  to?: Edge | undefined;
  windowSeconds: number;
}

const KINDS: Record<string, StatKind> = {
  deploy: 'deploy', deployment: 'deploy', deployments: 'deploy', deployment_apps: 'deploy',
  po: 'pod', pod: 'pod', pods: 'pod',
  route: 'route', routes: 'route', rt: 'route',
};

export function parseKind(word: string): StatKind {
  const kind = KINDS[word.toLowerCase().replace('.apps', '_apps')];
  if (!kind) throw usageError(`cannot stat "${word}": use deploy, pod or route`, 'stat');
  return kind;
}

/** `deploy/web` or `deploy web`: the kind and the optional name. */
export function parseResource(words: readonly string[]): { kind: StatKind; name?: string } {
  const [first, second, ...extra] = words;
  if (first === undefined) throw usageError('say what to stat: deploy, pod or route (and optionally a name)', 'stat');
  if (extra.length > 0) throw usageError(`too many arguments: ${words.join(' ')}`, 'stat');
  const [kindWord, slashName] = first.split('/', 2) as [string, string | undefined];
  if (slashName !== undefined && second !== undefined) throw usageError(`give the name once: ${words.join(' ')}`, 'stat');
  const name = slashName ?? second;
  return { kind: parseKind(kindWord), ...(name ? { name } : {}) };
}

export function parseEdge(flag: '--from' | '--to', value: string, namespace: string): Edge {
  const [kindWord, name] = value.split('/', 2) as [string, string | undefined];
  const kind = name ? KINDS[kindWord.toLowerCase()] : undefined;
  if (!name || !kind || kind === 'route') throw usageError(`${flag} takes deploy/NAME or pod/NAME, not "${value}"`, 'stat');
  return { kind, name, namespace };
}

/** "30s", "1m", "90" (seconds): the window in seconds. Prometheus-style units; at least 1 s. */
export function parseWindow(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 } as const;
  const seconds = m ? Number(m[1]) * unit[(m[2] ?? 's') as keyof typeof unit] : NaN;
  if (!(seconds >= 1)) throw usageError(`--window "${text}" is not a duration of at least 1s; use e.g. 10s, 30s or 1m`, 'stat');
  return seconds;
}

/** The window as PromQL writes it: whole seconds. */
export const promDuration = (seconds: number): string => `${Math.round(seconds)}s`;
