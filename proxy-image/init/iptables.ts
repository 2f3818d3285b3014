// Running iptables-save and iptables-restore, and turning their failures into
// InitErrors a user can act on. The runner is a parameter so detection and
// classification can be tested without a kernel.
import { spawn } from 'node:child_process';
import { InitError } from './errors.ts';

export interface ToolResult { status: number; stdout: string; stderr: string }

/** Runs a command with optional stdin; resolves undefined when the command is not installed. */
export type Runner = (command: string, args: readonly string[], input?: string) => Promise<ToolResult | undefined>;

export const spawnRunner: Runner = (command, args, input) => new Promise((resolve, reject) => {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') resolve(undefined); else reject(err);
  });
  child.on('close', (status) => resolve({ status: status ?? 1, stdout, stderr }));
  child.stdin.on('error', () => undefined); // a tool that exits early closes its stdin; its status says why
  child.stdin.end(input ?? '');
});

const NO_PERMISSION = /Permission denied|Operation not permitted|you must be root/i;
const NO_TABLE = /unable to initialize table|Table does not exist|can't initialize/i;

export const NET_ADMIN_HINT = 'give the skein-init container securityContext.capabilities.add: [NET_ADMIN, NET_RAW] and runAsUser: 0 '
  + '(the injector sets both; a PodSecurity level below privileged or a policy engine may have removed them)';

/** What a failed iptables command means for the user. */
export function classifyFailure(command: string, stderr: string): InitError {
  const detail = stderr.trim().split('\n').slice(0, 5).join(' | ');
  if (NO_PERMISSION.test(stderr)) {
    return new InitError('permission_denied', `${command} was refused (${detail}): ${NET_ADMIN_HINT}`);
  }
  const hint = NO_TABLE.test(stderr)
    ? 'the kernel does not offer this backend\'s nat table; pick the other one with --iptables-mode nft|legacy'
    : 'the rules above were not applied; this is a bug in skein-init or an iptables it does not support, please report it with this message';
  return new InitError('restore_failed', `${command} failed (${detail}): ${hint}`);
}

export function missingTool(command: string): InitError {
  return new InitError('iptables_missing', `${command} is not installed or not on PATH (${process.env.PATH ?? ''}): `
    + 'the image running skein-init must ship iptables (Debian: apt-get install iptables), or pick an installed backend with --iptables-mode');
}

async function mustRun(run: Runner, command: string, args: readonly string[], input?: string): Promise<string> {
  const result = await run(command, args, input);
  if (result === undefined) throw missingTool(command);
  if (result.status !== 0) throw classifyFailure(command, result.stderr);
  return result.stdout;
}

export function saveNat(run: Runner, save: string): Promise<string> {
  return mustRun(run, save, ['-t', 'nat']);
}

/** --noflush: only the chains the input declares are replaced; the rest of the table is left as it is. */
export async function restoreNat(run: Runner, restore: string, input: string): Promise<void> {
  await mustRun(run, restore, ['--noflush'], input);
}
