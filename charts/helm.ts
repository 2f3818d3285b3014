// The real helm for the chart tests: $SKEIN_HELM, else the one scripts/helm.sh
// builds from its Go module (cached in ~/.cache/skein/helm; a warm cache is a
// no-op, a cold one takes minutes and needs Go).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'helm.sh');

export async function helmBinary(): Promise<string> {
  if (process.env.SKEIN_HELM) return process.env.SKEIN_HELM;
  const { stdout } = await run(SCRIPT, { maxBuffer: 16 * 1024 * 1024 });
  const bin = stdout.trim().split('\n').pop();
  if (!bin) throw new Error(`${SCRIPT} printed no path`);
  return bin;
}

/** `helm <args>`: stdout, or an error carrying helm's stderr. */
export async function helm(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const bin = await helmBinary();
  try {
    return (await run(bin, [...args], { env, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`helm ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}
