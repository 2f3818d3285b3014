// One Node object, played as a kubelet would with the node's own credentials
// (system:node:<name>, so the Node authorizer and NodeRestriction apply):
// registration, Lease heartbeats, node status, and a PodWorker for each Pod
// bound here, whose status it writes back.
import { join } from 'node:path';
import { hostname, release } from 'node:os';
import {
  KubeConfig, CoreV1Api, CoordinationV1Api, PatchStrategy, setHeaderOptions,
  type V1Pod, type V1Node, type V1Service, type CoreV1Event,
} from '@kubernetes/client-node';
import { Informer } from '../../shared/informer.ts';
import { microTime } from '../../shared/microtime.ts';
import { PodWorker, type NodeContext } from './pod-worker.ts';
import { Ipam } from './network.ts';
import { startKubeletServer } from './kubelet-server.ts';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { Server } from 'node:https';

export interface NodeAgentOptions {
  name: string;
  kubeletPort: number;
  kubeletTls: { cert: string; key: string; ca: string };
  kubeconfigPath: string;
  podCidr: string;
  hostIP: string;
  stateDir: string;
  kubeletVersion: string;
  log: (msg: string) => void;
}

const HEARTBEAT_MS = 10_000;
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;
const isConflict = (err: unknown) => (err as { code?: number }).code === 409;

export class NodeAgent {
  readonly #o: NodeAgentOptions;
  readonly #kc = new KubeConfig();
  readonly #core: CoreV1Api;
  readonly #coordination: CoordinationV1Api;
  readonly #workers = new Map<string, PodWorker>();
  readonly #lastStatus = new Map<string, string>();
  readonly #ipam: Ipam;
  readonly #pods: Informer<V1Pod>;
  readonly #services: Informer<V1Service>;
  #heartbeat: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing = Promise.resolve();
  #stopping = false;
  #synced = false;
  #kubelet: Server | undefined;

  constructor(o: NodeAgentOptions) {
    this.#o = o;
    this.#kc.loadFromFile(o.kubeconfigPath);
    this.#core = this.#kc.makeApiClient(CoreV1Api);
    this.#coordination = this.#kc.makeApiClient(CoordinationV1Api);
    this.#ipam = new Ipam(o.podCidr);
    const onError = (what: string) => (err: unknown) => o.log(`${o.name}: ${what} watch: ${err instanceof Error ? err.message : String(err)}`);
    this.#pods = new Informer<V1Pod>({
      kubeConfig: this.#kc,
      path: '/api/v1/pods',
      fieldSelector: `spec.nodeName=${o.name}`,
      onEvent: (type, pod) => { this.#onPod(type, pod); },
      onError: onError('pods'),
    });
    this.#services = new Informer<V1Service>({ kubeConfig: this.#kc, path: '/api/v1/services', onEvent: () => undefined, onError: onError('services') });
  }

  async start(): Promise<void> {
    this.#kubelet = await startKubeletServer({
      host: this.#o.hostIP, port: this.#o.kubeletPort, tls: this.#o.kubeletTls,
      logFile: (ns, pod, container, previous) => this.#logFile(ns, pod, container, previous),
    });
    await this.#register();
    await this.#renewLease();
    this.#heartbeat = setInterval(() => { void this.#beat(); }, HEARTBEAT_MS);
    this.#services.start();
    await this.#services.synced;
    this.#pods.start();
    await this.#pods.synced;
    // Pods that ran here before keep their addresses: claim them all before any new pod takes one.
    for (const w of this.#workers.values()) w.reserveAddress();
    this.#synced = true;
    for (const w of this.#workers.values()) w.start();
    this.#o.log(`${this.#o.name}: registered, pod CIDR ${this.#o.podCidr}`);
  }

  /**
   * Stops every pod's processes. The node goes away, not the pods: their API
   * objects and last reported status stay as they were, as when a machine stops.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#flushTimer);
    this.#pods.stop();
    this.#services.stop();
    this.#kubelet?.close();
    await Promise.all([...this.#workers.values()].map((w) => w.terminate(2)));
    this.#workers.clear();
  }

  #context(): NodeContext {
    return {
      nodeName: this.#o.name,
      hostIP: this.#o.hostIP,
      ipam: this.#ipam,
      stateDir: this.#o.stateDir,
      core: this.#core,
      services: (ns) => this.#services.list().filter((s) => s.metadata?.namespace === ns || (s.metadata?.namespace === 'default' && s.metadata.name === 'kubernetes')),
      emit: (pod, type, reason, message) => { void this.#event(pod, type, reason, message); },
      onStatusChange: () => { this.#scheduleFlush(); },
      log: this.#o.log,
    };
  }

  #onPod(type: 'added' | 'modified' | 'deleted', pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    const existing = this.#workers.get(uid);
    if (type === 'deleted') {
      if (existing) void this.#finish(existing, 0, false);
      return;
    }
    if (existing) {
      existing.update(pod);
      if (pod.metadata?.deletionTimestamp) void this.#finish(existing, gracePeriodOf(pod), true);
      return;
    }
    if (pod.metadata?.deletionTimestamp) { void this.#confirmDeletion(pod); return; }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const worker = new PodWorker(pod, this.#context());
    this.#workers.set(uid, worker);
    if (this.#synced) worker.start();
  }

  async #finish(worker: PodWorker, graceSeconds: number, confirm: boolean): Promise<void> {
    if (worker.terminating) return;
    await worker.terminate(graceSeconds);
    // Through the one flush chain: concurrent flushes would each write every changed status.
    await (this.#flushing = this.#flushing.then(() => this.#flush()));
    this.#workers.delete(worker.uid);
    this.#lastStatus.delete(worker.uid);
    if (confirm) await this.#confirmDeletion(worker.pod);
  }

  /** The kubelet's last word on a deleted pod: delete it with grace 0, for this UID only. */
  async #confirmDeletion(pod: V1Pod): Promise<void> {
    try {
      await this.#core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid ?? '' } },
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) this.#o.log(`${this.#o.name}: confirm deletion of ${pod.metadata?.name ?? ''}: ${String(err)}`);
    }
  }

  /** Status writes are batched; a refused write is retried a second later, not in a tight loop. */
  #scheduleFlush(delayMs = 50): void {
    if (this.#flushTimer || this.#stopping) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flushing = this.#flushing.then(() => this.#flush());
    }, delayMs);
  }

  async #flush(): Promise<void> {
    for (const w of [...this.#workers.values()]) {
      if (this.#stopping) return;
      const status = w.status();
      const json = JSON.stringify(status);
      if (this.#lastStatus.get(w.uid) === json) continue;
      try {
        await this.#core.patchNamespacedPodStatus({
          name: w.pod.metadata?.name ?? '',
          namespace: w.pod.metadata?.namespace ?? '',
          // A pod address is a fact, not a set to merge into: replace the list.
          body: { metadata: { uid: w.uid }, status: { ...status, ...(status.podIPs ? { podIPs: [...status.podIPs, { $patch: 'replace' }] } : {}) } },
        }, strategic);
        this.#lastStatus.set(w.uid, json);
      } catch (err) {
        if (!isNotFound(err)) { this.#o.log(`${this.#o.name}: status of ${w.pod.metadata?.name ?? ''}: ${String(err)}`); this.#scheduleFlush(1_000); }
      }
    }
  }

  async #event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    const namespace = pod.metadata?.namespace ?? 'default';
    const event: CoreV1Event = {
      metadata: { generateName: `${pod.metadata?.name ?? 'pod'}.`, namespace },
      involvedObject: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name ?? '', namespace, uid: pod.metadata?.uid ?? '' },
      type, reason, message,
      source: { component: 'kubelet', host: this.#o.name },
      reportingComponent: 'kubelet',
      reportingInstance: this.#o.name,
      firstTimestamp: now, lastTimestamp: now, count: 1,
    };
    await this.#core.createNamespacedEvent({ namespace, body: event }).catch(() => undefined);
  }

  #nodeStatus(): V1Node['status'] {
    const now = new Date();
    const cond = (type: string, status: string, reason: string, message: string) =>
      ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
    const resources = { cpu: '16', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' };
    return {
      conditions: [
        cond('Ready', 'True', 'KubeletReady', 'the Skein local node is running pods'),
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      ],
      addresses: [{ type: 'InternalIP', address: this.#o.hostIP }, { type: 'Hostname', address: this.#o.name }],
      capacity: resources,
      allocatable: resources,
      daemonEndpoints: { kubeletEndpoint: { Port: this.#o.kubeletPort } },
      nodeInfo: {
        machineID: this.#o.name, systemUUID: this.#o.name, bootID: `${hostname()}-${process.pid}`,
        kernelVersion: release(), osImage: 'Skein local node', containerRuntimeVersion: 'skein-local-node://0.1.0',
        kubeletVersion: this.#o.kubeletVersion, kubeProxyVersion: this.#o.kubeletVersion, operatingSystem: 'linux', architecture: 'amd64',
      },
    };
  }

  async #register(): Promise<void> {
    const node: V1Node = {
      metadata: {
        name: this.#o.name,
        labels: { 'kubernetes.io/hostname': this.#o.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'skein.dev/local-node': 'true' },
      },
      spec: { podCIDR: this.#o.podCidr, podCIDRs: [this.#o.podCidr] },
    };
    try {
      await this.#core.createNode({ body: node });
    } catch (err) {
      // Registered by an earlier run: keep the object (and any cordon a user put on it).
      if (!isConflict(err)) throw err;
    }
    await this.#core.patchNodeStatus({ name: this.#o.name, body: { status: this.#nodeStatus() } }, strategic);
  }

  async #renewLease(): Promise<void> {
    const name = this.#o.name;
    const namespace = 'kube-node-lease';
    // The typed model has no MicroTime serializer; a correctly formatted string passes through.
    const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() as never };
    try {
      const lease = await this.#coordination.readNamespacedLease({ name, namespace });
      lease.spec = { ...lease.spec, ...spec };
      await this.#coordination.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const node = await this.#core.readNode({ name });
      await this.#coordination.createNamespacedLease({
        namespace,
        body: { metadata: { name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata?.uid ?? '' }] }, spec },
      });
    }
  }

  async #beat(): Promise<void> {
    try {
      await this.#renewLease();
      await this.#core.patchNodeStatus({ name: this.#o.name, body: { status: this.#nodeStatus() } }, strategic);
    } catch (err) {
      this.#o.log(`${this.#o.name}: heartbeat: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** A container's log: of the pod running now, else of the last pod of that name this node ran. */
  async #logFile(namespace: string, pod: string, container: string, previous: boolean): Promise<string | undefined> {
    const worker = [...this.#workers.values()].find((w) => w.pod.metadata?.namespace === namespace && w.pod.metadata.name === pod);
    let file = worker?.logFile(container, previous);
    if (!file) {
      const dir = (await readdir(join(this.#o.stateDir, 'pods')).catch(() => [] as string[])).filter((d) => d.startsWith(`${namespace}_${pod}_`)).pop();
      if (dir) file = join(this.#o.stateDir, 'pods', dir, 'logs', `${container}${previous ? '.previous' : ''}.log`);
    }
    return file && existsSync(file) ? file : undefined;
  }
}

function gracePeriodOf(pod: V1Pod): number {
  return pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
}
