// A pod that crashes rather than stops: every process of its containers gets
// SIGKILL, so nothing runs a shutdown handler (a leader does not release its
// Lease, a proxy does not drain), as when a node dies.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfig } from './kube.ts';
import { nodeDirs, REAL_NODES } from '../nodes/config.ts';

const run = promisify(execFile);

/** SIGKILLs every process of the pod's running containers; returns how many containers there were. */
export async function crashPod(namespace: string, name: string): Promise<number> {
  const pod = await kubeConfig().makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  // Through the node's own containerd, as its kubelet would see a container die.
  const node = REAL_NODES.find((n) => n.name === pod.spec?.nodeName);
  if (!node) throw new Error(`pod ${namespace}/${name} is on node "${pod.spec?.nodeName ?? ''}", not one of this cluster's nodes`);
  const socket = nodeDirs(dirname(process.env.KUBECONFIG ?? ''), node).socket;
  const ids = (pod.status?.containerStatuses ?? []).filter((c) => c.state?.running).map((c) => (c.containerID ?? '').replace(/^containerd:\/\//, '')).filter(Boolean);
  if (ids.length === 0) throw new Error(`pod ${namespace}/${name} has no running container`);
  for (const id of ids) await run('ctr', ['-a', socket, '-n', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', '--all', id]);
  return ids.length;
}
