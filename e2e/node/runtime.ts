// Starts a container as a process in its pod's network namespace, through
// launch.sh (mounts, user, capabilities), with its output kept as a log file.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Privileges } from './podspec.ts';

const LAUNCH = join(import.meta.dirname, 'launch.sh');

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ProcessSpec {
  netns: string;
  argv: readonly string[];
  env: Record<string, string>;
  workingDir: string | undefined;
  privileges: Privileges;
  mounts: readonly Mount[];
  /** Where this run of the container writes its mount list. */
  mountsFile: string;
  logFile: string;
}

export interface Exit {
  code: number;
  signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  pid: number;
  child: ChildProcess;
  exited: Promise<Exit>;
}

export function startProcess(spec: ProcessSpec): RunningProcess {
  writeFileSync(spec.mountsFile, spec.mounts.map((m) => `${m.source}\t${m.target}\t${m.readOnly ? 'ro' : 'rw'}\n`).join(''));
  const p = spec.privileges;
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn('ip', [
      'netns', 'exec', spec.netns, LAUNCH, spec.mountsFile,
      String(p.uid), String(p.gid), p.bounding, p.added, spec.workingDir ?? '-', '--', ...spec.argv,
    ], { env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/', ...spec.env }, stdio: ['ignore', fd, fd] });
    const exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code: code ?? 128 + signalNumber(signal), signal }));
      child.once('error', () => resolve({ code: 127, signal: null }));
    });
    return { pid: child.pid ?? -1, child, exited };
  } finally {
    closeSync(fd);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 0;
}
