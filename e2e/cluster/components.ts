// The command lines of the control-plane processes, as pure functions of the
// cluster's layout so they can be read and tested without starting anything.
import { join } from 'node:path';

/**
 * Address plan. Pods live in 198.18.0.0/16 and Services in 198.19.0.0/16:
 * RFC 2544 reserves 198.18.0.0/15 for benchmarking networks, so nothing real
 * is ever there and nothing of ours can collide with the machine's own LAN.
 */
export const NETWORK = {
  podCidr: '198.18.0.0/16',
  serviceCidr: '198.19.0.0/16',
  /** First Service IP, taken by the `kubernetes` Service. */
  kubernetesServiceIp: '198.19.0.1',
  /** The host end of the pod network; the API server advertises it to pods. */
  hostIp: '198.18.0.1',
  clusterDomain: 'cluster.local',
} as const;

export const SERVICE_ACCOUNT_ISSUER = `https://kubernetes.default.svc.${NETWORK.clusterDomain}`;

/** The nodes' names (e2e/nodes/config.ts runs one kubelet for each): the PKI issues each one's credentials. */
export const NODE_NAMES = ['skein-node-1', 'skein-node-2', 'skein-node-3'] as const;

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'real-nodes';

/** Three real kubelets, each with its own containerd (e2e/nodes/). */
export const NODE_COMPONENT: ComponentName = 'real-nodes';
/** Start order; stop order is the reverse. */
export const COMPONENTS: readonly ComponentName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', NODE_COMPONENT];
export const CONTROL_PLANE: readonly ComponentName[] = COMPONENTS.filter((c) => c !== NODE_COMPONENT);

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  localNode: number;
  kubeProxyHealth: number;
  kubeProxyMetrics: number;
}

export interface Layout {
  /** Root of this cluster's state: certificates, data, logs, pid files. */
  dir: string;
  binDir: string;
  ports: Ports;
}

export const paths = (dir: string) => ({
  pki: join(dir, 'pki'),
  etcdData: join(dir, 'etcd'),
  logs: join(dir, 'logs'),
  run: join(dir, 'run'),
  state: join(dir, 'state.json'),
  adminKubeconfig: join(dir, 'kubeconfig'),
  controllerManagerKubeconfig: join(dir, 'pki', 'controller-manager.kubeconfig'),
  schedulerKubeconfig: join(dir, 'pki', 'scheduler.kubeconfig'),
  kubeProxyKubeconfig: join(dir, 'pki', 'kube-proxy.kubeconfig'),
  nodeKubeconfig: (node: string) => join(dir, 'pki', `${node}.kubeconfig`),
});

export interface Command {
  bin: string;
  args: string[];
}

export function commandFor(name: ComponentName, layout: Layout): Command {
  const p = paths(layout.dir);
  const pki = (f: string) => join(p.pki, f);
  const { ports } = layout;
  const bin = join(layout.binDir, name);
  switch (name) {
    case 'etcd': {
      const client = `http://127.0.0.1:${ports.etcdClient}`;
      const peer = `http://127.0.0.1:${ports.etcdPeer}`;
      return {
        bin,
        args: [
          '--name=skein-e2e',
          `--data-dir=${p.etcdData}`,
          `--listen-client-urls=${client}`,
          `--advertise-client-urls=${client}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=skein-e2e=${peer}`,
          // A throwaway test cluster: durability is not worth an fsync per write.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
      };
    }
    case 'kube-apiserver':
      return {
        bin,
        args: [
          `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.apiserver}`,
          // Loopback cannot be advertised; the host end of the pod network can.
          `--advertise-address=${NETWORK.hostIp}`,
          `--tls-cert-file=${pki('apiserver.crt')}`,
          `--tls-private-key-file=${pki('apiserver.key')}`,
          `--client-ca-file=${pki('ca.crt')}`,
          `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
          '--authorization-mode=Node,RBAC',
          '--allow-privileged=true',
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${pki('sa.pub')}`,
          `--service-account-signing-key-file=${pki('sa.key')}`,
          `--api-audiences=${SERVICE_ACCOUNT_ISSUER}`,
          '--enable-admission-plugins=NodeRestriction',
          // `kubectl logs` goes through the API server to the nodes' kubelet API.
          `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
          `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
          `--kubelet-certificate-authority=${pki('ca.crt')}`,
          '--kubelet-preferred-address-types=InternalIP',
          // The aggregation layer, so extension API servers work as in a real cluster.
          `--requestheader-client-ca-file=${pki('front-proxy-ca.crt')}`,
          '--requestheader-allowed-names=front-proxy-client',
          '--requestheader-username-headers=X-Remote-User',
          '--requestheader-group-headers=X-Remote-Group',
          '--requestheader-extra-headers-prefix=X-Remote-Extra-',
          `--proxy-client-cert-file=${pki('front-proxy-client.crt')}`,
          `--proxy-client-key-file=${pki('front-proxy-client.key')}`,
          '--profiling=false',
          '--v=1',
        ],
      };
    case 'kube-controller-manager':
      return {
        bin,
        args: [
          `--kubeconfig=${p.controllerManagerKubeconfig}`,
          `--authentication-kubeconfig=${p.controllerManagerKubeconfig}`,
          `--authorization-kubeconfig=${p.controllerManagerKubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.controllerManager}`,
          `--cert-dir=${join(p.pki, 'controller-manager')}`,
          // Each controller acts as its own ServiceAccount, as kubeadm sets it up.
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${pki('sa.key')}`,
          `--root-ca-file=${pki('ca.crt')}`,
          `--cluster-signing-cert-file=${pki('ca.crt')}`,
          `--cluster-signing-key-file=${pki('ca.key')}`,
          `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
          `--cluster-cidr=${NETWORK.podCidr}`,
          '--leader-elect=false',
          '--profiling=false',
          '--v=1',
        ],
      };
    case 'real-nodes':
      return {
        bin: process.execPath,
        args: [join(import.meta.dirname, '..', 'nodes', 'main.ts'), 'run', `--dir=${layout.dir}`],
      };
    case 'kube-scheduler':
      return {
        bin,
        args: [
          `--kubeconfig=${p.schedulerKubeconfig}`,
          `--authentication-kubeconfig=${p.schedulerKubeconfig}`,
          `--authorization-kubeconfig=${p.schedulerKubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.scheduler}`,
          `--cert-dir=${join(p.pki, 'scheduler')}`,
          '--leader-elect=false',
          '--profiling=false',
          '--v=1',
        ],
      };
  }
}

/** Where each component answers a health check once it is serving. */
export function healthUrl(name: ComponentName, ports: Ports): string {
  switch (name) {
    case 'etcd': return `http://127.0.0.1:${ports.etcdClient}/health`;
    case 'kube-apiserver': return `https://127.0.0.1:${ports.apiserver}/readyz`;
    case 'kube-controller-manager': return `https://127.0.0.1:${ports.controllerManager}/healthz`;
    case 'kube-scheduler': return `https://127.0.0.1:${ports.scheduler}/healthz`;
    case 'real-nodes': return `http://127.0.0.1:${ports.localNode}/healthz`;
  }
}

/** kube-proxy in iptables mode, as the real nodes run it for the host all their pods share. */
export function kubeProxyCommand(layout: Layout, clusterCidr: string = NETWORK.podCidr): Command {
  const p = paths(layout.dir);
  return {
    bin: join(layout.binDir, 'kube-proxy'),
    args: [
      `--kubeconfig=${p.kubeProxyKubeconfig}`,
      '--proxy-mode=iptables',
      `--hostname-override=${NODE_NAMES[0]}`,
      `--cluster-cidr=${clusterCidr}`,
      `--healthz-bind-address=127.0.0.1:${layout.ports.kubeProxyHealth}`,
      `--metrics-bind-address=127.0.0.1:${layout.ports.kubeProxyMetrics}`,
      // Leave the host's conntrack sysctls alone.
      '--conntrack-max-per-core=0',
      '--v=1',
    ],
  };
}

export function portsOf(ports: Ports): number[] {
  return PORT_NAMES.map((n) => ports[n]);
}

export const PORT_NAMES: readonly (keyof Ports)[] = ['etcdClient', 'etcdPeer', 'apiserver', 'controllerManager', 'scheduler', 'localNode', 'kubeProxyHealth', 'kubeProxyMetrics'];
