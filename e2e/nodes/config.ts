// What each real node runs, as pure functions of the cluster's layout: its
// containerd's config, its CNI network, its kubelet's config and command line.
// Every node has its own containerd (socket, root, state), cgroup parent,
// bridge and pod /24 inside 198.18.0.0/16; all of them share the host, its
// address 198.18.0.1 and one kube-proxy.
import { join } from 'node:path';
import { NETWORK, paths, type Command, type Layout } from '../cluster/components.ts';

export interface RealNode {
  name: string;
  /** 1-based: names the bridge, the pod /24 and the ports. */
  index: number;
  podCidr: string;
  kubeletPort: number;
}

export const REAL_NODES: readonly RealNode[] = [1, 2, 3].map((index) => ({
  name: `skein-node-${index}`, index, podCidr: `198.18.${index}.0/24`, kubeletPort: 10249 + index,
}));

/** The Service IP of cluster DNS (CoreDNS), as kubeadm puts it: the tenth of the Service range. */
export const CLUSTER_DNS_IP = '198.19.0.10';

/** Prefixes of what the nodes create on the host, so cleanup and the leftover check find exactly ours. */
export const HOST_NAMES = { bridge: 'skein-br', cgroup: 'skein-node-' } as const;

export function nodeDirs(clusterDir: string, node: RealNode) {
  const root = join(clusterDir, 'nodes', node.name);
  return {
    root,
    containerdConfig: join(root, 'containerd.toml'),
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    socket: join(root, 'containerd.sock'),
    cniConf: join(root, 'cni', 'net.d'),
    cniIpam: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    podLogs: join(root, 'pods'),
    resolvConf: join(root, 'resolv.conf'),
  };
}

export const cgroupParent = (node: RealNode): string => `/${HOST_NAMES.cgroup}${node.index}`;
export const bridgeOf = (node: RealNode): string => `${HOST_NAMES.bridge}${node.index}`;

/**
 * containerd 1.6 with its CRI plugin. restrict_oom_score_adj: this VM lacks
 * CAP_SYS_RESOURCE, so a negative oom_score_adj fails every sandbox. The
 * network namespaces live under the state dir, so nothing is left in /run/netns.
 */
export function containerdConfig(clusterDir: string, node: RealNode, sandboxImage: string): string {
  const d = nodeDirs(clusterDir, node);
  return `version = 2
root = ${JSON.stringify(d.containerdRoot)}
state = ${JSON.stringify(d.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${JSON.stringify(d.socket)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(join(d.root, 'containerd', 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(sandboxImage)}
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${JSON.stringify(join(d.containerdState, 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${JSON.stringify(d.cniConf)}
`;
}

/**
 * A bridge per node with its /24; pods get a route to 198.18.0.0/15 (pods and
 * Services) and no default route, so nothing they send leaves the machine.
 */
export function cniConflist(clusterDir: string, node: RealNode): string {
  const d = nodeDirs(clusterDir, node);
  const [a, b, c] = node.podCidr.split('.');
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: node.name,
    plugins: [
      {
        type: 'bridge', bridge: bridgeOf(node), isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: node.podCidr, gateway: `${a}.${b}.${c}.1` }]], routes: [{ dst: '198.18.0.0/15' }], dataDir: d.cniIpam },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2);
}

/**
 * KubeletConfiguration. cgroup v1 (hybrid) needs failCgroupV1: false on 1.35;
 * each node's pods go under its own cgroup root; eviction thresholds are
 * off, since a test machine's disk is shared with everything else.
 */
export function kubeletConfig(layout: Layout, node: RealNode): string {
  const p = paths(layout.dir);
  const d = nodeDirs(layout.dir, node);
  return JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NETWORK.hostIp,
    port: node.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 0,
    tlsCertFile: join(p.pki, `${node.name}-serving.crt`),
    tlsPrivateKeyFile: join(p.pki, `${node.name}-serving.key`),
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: join(p.pki, 'ca.crt') } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs',
    cgroupRoot: cgroupParent(node),
    failCgroupV1: false,
    failSwapOn: false,
    clusterDomain: NETWORK.clusterDomain,
    clusterDNS: [CLUSTER_DNS_IP],
    resolvConf: d.resolvConf,
    podLogsDir: d.podLogs,
    containerRuntimeEndpoint: `unix://${d.socket}`,
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'imagefs.available': '0%', 'nodefs.inodesFree': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    maxPods: 110,
    registerNode: true,
    syncFrequency: '10s',
    fileCheckFrequency: '0s',
    nodeStatusReportFrequency: '10s',
    protectKernelDefaults: false,
    makeIPTablesUtilChains: true,
    shutdownGracePeriod: '0s',
    logging: { verbosity: 1 },
  }, null, 2);
}

export function kubeletCommand(layout: Layout, node: RealNode): Command {
  const p = paths(layout.dir);
  const d = nodeDirs(layout.dir, node);
  return {
    bin: join(layout.binDir, 'kubelet'),
    args: [
      `--config=${d.kubeletConfig}`,
      `--kubeconfig=${p.nodeKubeconfig(node.name)}`,
      `--hostname-override=${node.name}`,
      `--node-ip=${NETWORK.hostIp}`,
      `--root-dir=${d.kubeletRoot}`,
      `--cert-dir=${join(d.root, 'pki')}`,
    ],
  };
}

export function containerdCommand(clusterDir: string, node: RealNode): Command {
  return { bin: 'containerd', args: ['--config', nodeDirs(clusterDir, node).containerdConfig] };
}
