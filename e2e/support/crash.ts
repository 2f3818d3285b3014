// A pod that crashes rather than stops: every process in its network
// namespace gets SIGKILL, so nothing runs a shutdown handler (a leader does
// not release its Lease, a proxy does not drain), as when a node dies.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfig } from './kube.ts';
import { sandboxNames } from '../node/network.ts';

const run = promisify(execFile);

/** SIGKILLs the pod's processes on the local node; returns how many there were. */
export async function crashPod(namespace: string, name: string): Promise<number> {
  const pod = await kubeConfig().makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  const { netns } = sandboxNames(pod.metadata?.uid ?? '');
  const { stdout } = await run('ip', ['netns', 'pids', netns]);
  const pids = stdout.split('\n').map((l) => Number(l.trim())).filter((p) => Number.isInteger(p) && p > 0);
  if (pids.length === 0) throw new Error(`pod ${namespace}/${name} has no process in network namespace ${netns}: is it running on the local node?`);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      // Gone between the listing and the kill: it has stopped, as wanted.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  return pids.length;
}
