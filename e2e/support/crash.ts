// A pod that crashes rather than stops: every process of its containers gets
// SIGKILL, so nothing runs a shutdown handler (a leader does not release its
// Lease, a proxy does not drain), as when a node dies.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfig, realNodes } from './kube.ts';
import { sandboxNames } from '../node/network.ts';
import { nodeDirs, REAL_NODES } from '../nodes/config.ts';

const run = promisify(execFile);

/** SIGKILLs the pod's processes on its node; returns how many containers (real nodes) or processes (the imitation) there were. */
export async function crashPod(namespace: string, name: string): Promise<number> {
  const pod = await kubeConfig().makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  if (await realNodes()) {
    // Through the node's own containerd, as its kubelet would see a container die.
    const node = REAL_NODES.find((n) => n.name === pod.spec?.nodeName);
    if (!node) throw new Error(`pod ${namespace}/${name} is on node "${pod.spec?.nodeName ?? ''}", not one of this cluster's real nodes`);
    const socket = nodeDirs(dirname(process.env.KUBECONFIG ?? ''), node).socket;
    const ids = (pod.status?.containerStatuses ?? []).filter((c) => c.state?.running).map((c) => (c.containerID ?? '').replace(/^containerd:\/\//, '')).filter(Boolean);
    if (ids.length === 0) throw new Error(`pod ${namespace}/${name} has no running container`);
    for (const id of ids) await run('ctr', ['-a', socket, '-n', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', '--all', id]);
    return ids.length;
  }
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
