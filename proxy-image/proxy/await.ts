// `skein-proxy await --timeout=120s`: the postStart hook of the classic (not
// native) sidecar. The kubelet starts the app container only after postStart
// returns, so the app never sends a request before the proxy can carry it.
import { parseEnvDuration as parseDuration } from '../../api/sidecar.ts';
import { PORTS } from '../../api/mesh-names.ts';
import { SkeinError } from '../../api/errors.ts';

export const DEFAULT_AWAIT_TIMEOUT_MS = 120_000;
const POLL_INTERVAL_MS = 250;
const ATTEMPT_TIMEOUT_MS = 1_000;

export interface AwaitOptions {
  url: string;
  timeoutMs: number;
  intervalMs?: number;
}

export interface AwaitResult { ok: boolean; message: string }

export class AwaitUsageError extends SkeinError {
  readonly code = 'await_usage';
}

/** `--timeout=120s` or `--timeout 120s`; nothing else is accepted. */
export function parseAwaitArgs(args: readonly string[]): { timeoutMs: number } {
  let timeoutMs = DEFAULT_AWAIT_TIMEOUT_MS;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = arg.startsWith('--timeout=') ? arg.slice('--timeout='.length) : arg === '--timeout' ? args[++i] : undefined;
    if (value === undefined) throw new AwaitUsageError(`unknown argument "${arg}"; usage: skein-proxy await [--timeout=120s]`);
    try { timeoutMs = parseDuration(value); } catch (err) {
      throw new AwaitUsageError(`--timeout: ${(err as Error).message}`);
    }
  }
  return { timeoutMs };
}

async function probe(url: string): Promise<{ status: number; body: string } | { error: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
    return { status: res.status, body: (await res.text()).trim() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { error: cause ?? (err as Error).message };
  }
}

/** Polls until /ready answers 200 or the time is up; the last answer explains a timeout. */
export async function awaitReady(o: AwaitOptions): Promise<AwaitResult> {
  const deadline = Date.now() + o.timeoutMs;
  const interval = o.intervalMs ?? POLL_INTERVAL_MS;
  for (;;) {
    const r = await probe(o.url);
    if ('status' in r && r.status === 200) return { ok: true, message: `skein-proxy is ready (${o.url})` };
    if (Date.now() + interval >= deadline) {
      const last = 'error' in r ? `the admin server did not answer (${r.error})` : `it answered ${r.status}: ${r.body.replace(/\s*\n\s*/g, '; ')}`;
      return { ok: false, message: `skein-proxy was not ready after ${o.timeoutMs / 1000}s; ${last}` };
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The `await` subcommand: the exit status (0 ready, 1 not ready, 2 usage) after printing why. */
export async function runAwait(args: readonly string[], env: NodeJS.ProcessEnv, out: (line: string) => void = console.error): Promise<number> {
  let timeoutMs: number;
  try { ({ timeoutMs } = parseAwaitArgs(args)); } catch (err) {
    out(`skein-proxy await: ${(err as Error).message}`);
    return 2;
  }
  const port = env.SKEIN_ADMIN_PORT?.trim() || String(PORTS.admin);
  const result = await awaitReady({ url: `http://127.0.0.1:${port}/ready`, timeoutMs });
  out(result.message);
  return result.ok ? 0 : 1;
}
