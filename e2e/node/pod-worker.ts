// One pod's life on the local node: sandbox, volumes, init containers in
// order (native sidecars keep running), containers with postStart hooks,
// probes, restarts per policy, and graceful termination. The status it
// reports is computed from what really runs.
import { mkdirSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Api, V1Pod, V1Container, V1ContainerStatus, V1PodStatus, V1PodCondition, V1LifecycleHandler, V1Service } from '@kubernetes/client-node';
import { lookupImage, argvFor, resolveCommand, ImagePullError } from './images.ts';
import { privilegesOf, envFor, shouldRestart, restartBackoffMs, isNativeSidecar, type RestartPolicy, EnvError } from './podspec.ts';
import { PodVolumes, MountError } from './volumes.ts';
import { startProcess, type RunningProcess, type Exit, type Mount } from './runtime.ts';
import { runProbe, ProbeState, httpGet, resolvePort } from './probes.ts';
import { createSandbox, deleteSandbox, type Ipam } from './network.ts';
import { podEtcFiles, writePodEtc } from './dns-config.ts';

type Kind = 'init' | 'sidecar' | 'main';

interface Terminated { exitCode: number; reason: string; startedAt: Date; finishedAt: Date; signal?: number }

interface ContainerRecord {
  spec: V1Container;
  kind: Kind;
  waiting?: { reason: string; message?: string };
  running?: { startedAt: Date };
  terminated?: Terminated;
  lastTerminated?: Terminated;
  restartCount: number;
  ready: boolean;
  started: boolean;
  proc?: RunningProcess;
  /** Bumped on every start, so probe loops of a previous run stop. */
  generation: number;
}

export interface NodeContext {
  nodeName: string;
  hostIP: string;
  ipam: Ipam;
  /** Where this node keeps pod state and container logs. */
  stateDir: string;
  core: CoreV1Api;
  services: (namespace: string) => V1Service[];
  emit: (pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  onStatusChange: () => void;
  log: (msg: string) => void;
}

export class PodWorker {
  pod: V1Pod;
  readonly #node: NodeContext;
  readonly #records: ContainerRecord[];
  readonly #dir: string;
  #podIP = '';
  #reservedIP: string | undefined;
  #netns = '';
  #volumes: PodVolumes | undefined;
  #sandboxReady = false;
  #initialized = false;
  #failedPhase = false;
  #terminating = false;
  /** Every main container finished for good: nothing restarts any more. */
  #completed = false;
  #startTime = new Date();
  readonly #transitions = new Map<string, { ok: boolean; at: Date }>();
  #done: Promise<void> | undefined;

  constructor(pod: V1Pod, node: NodeContext) {
    this.pod = pod;
    this.#node = node;
    const ns = pod.metadata?.namespace ?? 'default';
    this.#dir = join(node.stateDir, 'pods', `${ns}_${pod.metadata?.name ?? ''}_${pod.metadata?.uid ?? ''}`);
    const rec = (spec: V1Container, kind: Kind): ContainerRecord => ({
      spec, kind, waiting: { reason: kind === 'main' ? 'PodInitializing' : 'ContainerCreating' }, restartCount: 0, ready: false, started: false, generation: 0,
    });
    this.#records = [
      ...(pod.spec?.initContainers ?? []).map((c) => rec(c, isNativeSidecar(c) ? 'sidecar' : 'init')),
      ...(pod.spec?.containers ?? []).map((c) => rec(c, 'main')),
    ];
  }

  get uid(): string {
    return this.pod.metadata?.uid ?? '';
  }

  get terminating(): boolean {
    return this.#terminating;
  }

  /** The current run's output; `previous` is the run before the last restart. */
  logFile(container: string, previous = false): string {
    return join(this.#dir, 'logs', `${container}${previous ? '.previous' : ''}.log`);
  }

  start(): void {
    this.#done = this.#run().catch((err: unknown) => {
      this.#node.log(`pod ${this.#name()}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    });
  }

  /** Keeps the address the pod had before the node restarted, when it is still free. */
  reserveAddress(): void {
    const ip = this.pod.status?.podIP;
    if (ip && this.#node.ipam.reserve(ip)) this.#reservedIP = ip;
  }

  update(pod: V1Pod): void {
    this.pod = pod;
  }

  #name(): string {
    return `${this.pod.metadata?.namespace ?? ''}/${this.pod.metadata?.name ?? ''}`;
  }

  #changed(): void {
    this.#node.onStatusChange();
  }

  async #run(): Promise<void> {
    mkdirSync(join(this.#dir, 'logs'), { recursive: true, mode: 0o755 });
    mkdirSync(join(this.#dir, 'run'), { recursive: true });
    for (const r of this.#records) {
      try { lookupImage(r.spec.image ?? ''); } catch (err) {
        if (!(err instanceof ImagePullError)) throw err;
        r.waiting = { reason: 'ErrImagePull', message: err.message };
        this.#node.emit(this.pod, 'Warning', 'Failed', `Failed to pull image "${r.spec.image ?? ''}": ${err.message}`);
        this.#changed();
        return;
      }
    }
    this.#podIP = this.#reservedIP ?? this.#node.ipam.allocate();
    this.#netns = (await createSandbox(this.uid, this.#podIP)).netns;
    // Cluster DNS listens on the node's host address (see main.ts).
    writePodEtc(this.#netns, podEtcFiles(this.pod, this.#podIP, this.#node.hostIP));
    this.#sandboxReady = true;
    this.#changed();

    this.#volumes = new PodVolumes({ core: this.#node.core, pod: this.pod, facts: this.#facts(), root: join(this.#dir, 'volumes') });
    while (!this.#terminating) {
      try { await this.#volumes.sync(this.pod); break; } catch (err) {
        if (!(err instanceof MountError)) throw err;
        this.#node.emit(this.pod, 'Warning', 'FailedMount', err.message);
        await sleep(2_000);
      }
    }
    void this.#refreshVolumes();

    for (const r of this.#records.filter((x) => x.kind !== 'main')) {
      if (this.#terminating) return;
      const ok = r.kind === 'sidecar' ? await this.#startSupervised(r) : await this.#runToCompletion(r);
      if (!ok) return;
    }
    this.#initialized = true;
    for (const r of this.#records.filter((x) => x.kind === 'main')) r.waiting = { reason: 'ContainerCreating' };
    this.#changed();
    for (const r of this.#records.filter((x) => x.kind === 'main')) {
      if (this.#terminating) return;
      await this.#startSupervised(r);
    }
  }

  #facts(): { podIP: string; hostIP: string } {
    return { podIP: this.#podIP, hostIP: this.#node.hostIP };
  }

  /** ConfigMaps, Secrets and tokens are re-read every 10 s (jittered), as the kubelet's periodic sync does. */
  async #refreshVolumes(): Promise<void> {
    while (!this.#terminating) {
      await sleep(8_000 + Math.random() * 4_000);
      if (this.#terminating) return;
      await this.#volumes?.sync(this.pod).catch((err: unknown) => this.#node.log(`pod ${this.#name()}: volume refresh: ${String(err)}`));
    }
  }

  #mounts(c: V1Container): Mount[] {
    return (c.volumeMounts ?? []).map((m) => {
      const base = this.#volumes?.pathOf(m.name);
      if (!base) throw new MountError(`container ${c.name} mounts volume "${m.name}", which the pod does not define`);
      return { source: m.subPath ? join(base, m.subPath) : base, target: m.mountPath, readOnly: m.readOnly ?? false };
    });
  }

  /** ConfigMaps and Secrets the container's env refers to, read now (absent ones stay undefined). */
  async #envData(c: V1Container): Promise<{ configMaps: Map<string, Record<string, string>>; secrets: Map<string, Record<string, string>> }> {
    const namespace = this.pod.metadata?.namespace ?? 'default';
    const cmNames = new Set<string>();
    const secretNames = new Set<string>();
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) cmNames.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) secretNames.add(e.valueFrom.secretKeyRef.name);
    }
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef?.name) cmNames.add(f.configMapRef.name);
      if (f.secretRef?.name) secretNames.add(f.secretRef.name);
    }
    const absentOn404 = async <T>(p: Promise<T>): Promise<T | undefined> => {
      try { return await p; } catch (err) { if ((err as { code?: number }).code === 404) return undefined; throw err; }
    };
    const configMaps = new Map<string, Record<string, string>>();
    for (const name of cmNames) {
      const cm = await absentOn404(this.#node.core.readNamespacedConfigMap({ name, namespace }));
      if (cm) configMaps.set(name, cm.data ?? {});
    }
    const secrets = new Map<string, Record<string, string>>();
    for (const name of secretNames) {
      const sec = await absentOn404(this.#node.core.readNamespacedSecret({ name, namespace }));
      if (sec) secrets.set(name, Object.fromEntries(Object.entries(sec.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])));
    }
    return { configMaps, secrets };
  }

  async #spawn(r: ContainerRecord, argv: string[], logFile: string, suffix: string): Promise<RunningProcess> {
    const c = r.spec;
    const data = await this.#envData(c);
    const env = envFor(this.pod, c, {
      ...this.#facts(),
      services: this.#node.services(this.pod.metadata?.namespace ?? 'default'),
      configMap: (name) => data.configMaps.get(name),
      secret: (name) => data.secrets.get(name),
    });
    return startProcess({
      netns: this.#netns,
      argv,
      env,
      workingDir: c.workingDir,
      privileges: privilegesOf(this.pod, c),
      mounts: this.#mounts(c),
      mountsFile: join(this.#dir, 'run', `${c.name}${suffix}.mounts`),
      logFile,
    });
  }

  async #launch(r: ContainerRecord): Promise<boolean> {
    const c = r.spec;
    try {
      const argv = argvFor(lookupImage(c.image ?? ''), c.command, c.args);
      if (r.restartCount > 0 && existsSync(this.logFile(c.name))) renameSync(this.logFile(c.name), this.logFile(c.name, true));
      r.proc = await this.#spawn(r, argv, this.logFile(c.name), '');
    } catch (err) {
      if (err instanceof EnvError || err instanceof MountError) {
        r.waiting = { reason: err.code === 'FailedMount' ? 'CreateContainerError' : err.code, message: err.message };
        this.#node.emit(this.pod, 'Warning', 'Failed', `Error: ${err.message}`);
        this.#changed();
        return false;
      }
      throw err;
    }
    r.generation++;
    delete r.waiting;
    delete r.terminated;
    r.running = { startedAt: new Date() };
    r.started = r.spec.startupProbe === undefined;
    r.ready = false;
    this.#node.emit(this.pod, 'Normal', 'Started', `Started container ${c.name}`);
    this.#changed();
    return true;
  }

  #recordExit(r: ContainerRecord, exit: Exit): Terminated {
    const t: Terminated = {
      exitCode: exit.code,
      reason: exit.code === 0 ? 'Completed' : 'Error',
      startedAt: r.running?.startedAt ?? new Date(),
      finishedAt: new Date(),
      ...(exit.signal ? { signal: exit.code - 128 } : {}),
    };
    delete r.running;
    delete r.proc;
    r.terminated = t;
    r.ready = false;
    this.#changed();
    return t;
  }

  /** A regular init container: run it until it exits 0, restarting per policy. */
  async #runToCompletion(r: ContainerRecord): Promise<boolean> {
    for (;;) {
      if (!(await this.#launch(r))) { await sleep(2_000); if (this.#terminating) return false; continue; }
      const exit = await r.proc!.exited;
      const t = this.#recordExit(r, exit);
      if (t.exitCode === 0) return true;
      if (this.#terminating) return false;
      const policy = (this.pod.spec?.restartPolicy ?? 'Always') as RestartPolicy;
      if (policy === 'Never') {
        this.#failedPhase = true;
        this.#node.emit(this.pod, 'Warning', 'Failed', `Init container ${r.spec.name} exited with ${t.exitCode}; restartPolicy is Never`);
        this.#changed();
        return false;
      }
      await this.#backoff(r);
      if (this.#terminating) return false;
    }
  }

  async #backoff(r: ContainerRecord): Promise<void> {
    if (r.terminated) r.lastTerminated = r.terminated;
    r.restartCount++;
    const wait = restartBackoffMs(r.restartCount);
    r.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${wait / 1000}s restarting failed container=${r.spec.name} pod=${this.#name()}` };
    delete r.terminated;
    this.#node.emit(this.pod, 'Warning', 'BackOff', r.waiting.message ?? '');
    this.#changed();
    await sleep(wait);
  }

  /**
   * Starts a long-running container (main or sidecar) and keeps it running per
   * policy. Resolves once it counts as started (startup probe passed, postStart
   * hook done), which is when the kubelet moves on to the next container.
   */
  async #startSupervised(r: ContainerRecord): Promise<boolean> {
    if (!(await this.#launch(r))) return false;
    void this.#supervise(r);
    this.#probeLoops(r);
    const hookOk = await this.#postStart(r);
    if (!hookOk) r.proc?.child.kill('SIGKILL');
    while (!r.started && !this.#terminating && r.running) await sleep(100);
    return true;
  }

  async #supervise(r: ContainerRecord): Promise<void> {
    for (;;) {
      const proc = r.proc;
      if (!proc) return;
      const exit = await proc.exited;
      const t = this.#recordExit(r, exit);
      if (this.#terminating || this.#completed) return;
      const policy: RestartPolicy = r.kind === 'sidecar' ? 'Always' : (this.pod.spec?.restartPolicy ?? 'Always') as RestartPolicy;
      if (!shouldRestart(policy, t.exitCode)) { this.#afterMainExit(); return; }
      await this.#backoff(r);
      if (this.#terminating) return;
      while (!(await this.#launch(r))) {
        await sleep(2_000);
        if (this.#terminating) return;
      }
      this.#probeLoops(r);
      if (!(await this.#postStart(r))) r.proc?.child.kill('SIGKILL');
    }
  }

  /** When every main container has finished for good, the sidecars are stopped (pod Succeeded/Failed). */
  #afterMainExit(): void {
    const mains = this.#records.filter((r) => r.kind === 'main');
    if (mains.every((r) => r.terminated && !r.running && !r.waiting)) {
      this.#completed = true;
      for (const s of this.#records.filter((r) => r.kind === 'sidecar')) s.proc?.child.kill('SIGTERM');
      this.#changed();
    }
  }

  async #postStart(r: ContainerRecord): Promise<boolean> {
    const hook = r.spec.lifecycle?.postStart;
    if (!hook) return true;
    const ok = await this.#runHandler(r, hook, 'postStart', 30_000);
    if (!ok) this.#node.emit(this.pod, 'Warning', 'FailedPostStartHook', `PostStartHook of container ${r.spec.name} failed`);
    return ok;
  }

  async #runHandler(r: ContainerRecord, h: V1LifecycleHandler, what: string, timeoutMs: number): Promise<boolean> {
    if (h.exec) return (await this.#execInContainer(r, h.exec.command ?? [], timeoutMs, what)) === 0;
    if (h.httpGet) return httpGet(h.httpGet.host ?? this.#podIP, resolvePort(r.spec, h.httpGet.port), h.httpGet, timeoutMs);
    if (h.sleep) { await sleep(h.sleep.seconds * 1000); return true; }
    return true;
  }

  async #execInContainer(r: ContainerRecord, command: string[], timeoutMs: number, what: string): Promise<number> {
    // Exec'd commands resolve through the image's PATH too (e.g. `skein-proxy await`).
    const proc = await this.#spawn(r, resolveCommand(lookupImage(r.spec.image ?? ''), command), join(this.#dir, 'logs', `${r.spec.name}.${what}.log`), `.${what}`);
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
    try { return (await proc.exited).code; } finally { clearTimeout(timer); }
  }

  #probeLoops(r: ContainerRecord): void {
    const gen = r.generation;
    const alive = () => !this.#terminating && r.generation === gen && r.running !== undefined;
    const target = { podIP: this.#podIP, container: r.spec, exec: (cmd: string[], t: number) => this.#execInContainer(r, cmd, t, 'probe') };
    const loop = async (probe: NonNullable<V1Container['startupProbe']>, onResult: (state: ProbeState) => boolean, initial: boolean) => {
      const state = new ProbeState(probe, initial);
      await sleep((probe.initialDelaySeconds ?? 0) * 1000);
      while (alive()) {
        const ok = await runProbe(probe, target);
        if (!alive()) return;
        state.record(ok);
        if (!ok) this.#node.emit(this.pod, 'Warning', 'Unhealthy', `Probe of container ${r.spec.name} failed`);
        if (!onResult(state)) return;
        await sleep((probe.periodSeconds ?? 10) * 1000);
      }
    };
    const startup = r.spec.startupProbe;
    const afterStartup = () => {
      const readiness = r.spec.readinessProbe;
      if (readiness) {
        void loop(readiness, (s) => { if (r.ready !== s.verdict) { r.ready = s.verdict; this.#changed(); } return true; }, false);
      } else {
        r.ready = true;
        this.#changed();
      }
      const liveness = r.spec.livenessProbe;
      if (liveness) {
        void loop(liveness, (s) => {
          if (s.verdict) return true;
          this.#node.emit(this.pod, 'Normal', 'Killing', `Container ${r.spec.name} failed liveness probe, will be restarted`);
          r.proc?.child.kill('SIGKILL');
          return false;
        }, true);
      }
    };
    if (startup) {
      void loop(startup, (s) => {
        if (!s.verdict) return true;
        r.started = true;
        this.#changed();
        afterStartup();
        return false;
      }, false);
    } else {
      afterStartup();
    }
  }

  /** preStop hooks, SIGTERM, the grace period, SIGKILL; sidecars last; then the sandbox goes. */
  async terminate(graceSeconds: number): Promise<void> {
    if (this.#terminating) return;
    this.#terminating = true;
    const deadline = Date.now() + graceSeconds * 1000;
    this.#changed();
    const stopGroup = async (group: ContainerRecord[]) => {
      await Promise.all(group.filter((r) => r.proc).map(async (r) => {
        const hook = r.spec.lifecycle?.preStop;
        if (hook) await this.#runHandler(r, hook, 'preStop', Math.max(0, deadline - Date.now()));
        r.proc?.child.kill('SIGTERM');
      }));
      while (group.some((r) => r.proc) && Date.now() < deadline) await sleep(50);
      for (const r of group) r.proc?.child.kill('SIGKILL');
      while (group.some((r) => r.proc)) await sleep(20);
    };
    if (graceSeconds > 0) this.#node.emit(this.pod, 'Normal', 'Killing', `Stopping containers (grace period ${graceSeconds}s)`);
    await stopGroup(this.#records.filter((r) => r.kind !== 'sidecar'));
    await stopGroup(this.#records.filter((r) => r.kind === 'sidecar').reverse());
    await this.#done;
    if (!this.#podIP && this.#reservedIP) this.#node.ipam.release(this.#reservedIP);
    if (this.#netns) {
      // Kills whatever the containers left in the namespace, then removes it.
      await deleteSandbox(this.uid);
      this.#node.ipam.release(this.#podIP);
    }
    this.#changed();
  }

  #containerStatus(r: ContainerRecord): V1ContainerStatus {
    const term = (t: Terminated) => ({ terminated: { exitCode: t.exitCode, reason: t.reason, startedAt: t.startedAt, finishedAt: t.finishedAt, ...(t.signal !== undefined ? { signal: t.signal } : {}) } });
    const state = r.running ? { running: { startedAt: r.running.startedAt } }
      : r.terminated ? term(r.terminated)
        : { waiting: r.waiting ?? { reason: 'ContainerCreating' } };
    return {
      name: r.spec.name,
      image: r.spec.image ?? '',
      imageID: `skein.dev/local-node/${r.spec.image ?? ''}`,
      ...(r.proc ? { containerID: `skein://${r.proc.pid}` } : {}),
      ready: r.ready && r.running !== undefined,
      started: r.started && r.running !== undefined,
      restartCount: r.restartCount,
      state,
      ...(r.lastTerminated ? { lastState: term(r.lastTerminated) } : {}),
    };
  }

  phase(): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
    const mains = this.#records.filter((r) => r.kind === 'main');
    if (this.#failedPhase) return 'Failed';
    // Under restartPolicy Always a pod never finishes: its containers are restarted.
    const finished = this.#completed || (this.pod.spec?.restartPolicy !== 'Always' && this.pod.spec?.restartPolicy !== undefined
      && mains.every((r) => r.terminated && !r.running && !r.waiting));
    if (this.#initialized && finished && mains.length > 0) return mains.every((r) => r.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
    if (this.#initialized && mains.some((r) => r.running || r.terminated || r.restartCount > 0)) return 'Running';
    return 'Pending';
  }

  status(): V1PodStatus {
    const cond = (type: string, ok: boolean): V1PodCondition => {
      let t = this.#transitions.get(type);
      if (t?.ok !== ok) { t = { ok, at: new Date() }; this.#transitions.set(type, t); }
      return { type, status: ok ? 'True' : 'False', lastTransitionTime: t.at };
    };
    const ready = (group: ContainerRecord[]) => group.every((r) => r.ready && r.running !== undefined);
    const containersReady = this.#initialized && !this.#terminating
      && ready(this.#records.filter((r) => r.kind === 'main')) && ready(this.#records.filter((r) => r.kind === 'sidecar'));
    return {
      phase: this.phase(),
      hostIP: this.#node.hostIP,
      hostIPs: [{ ip: this.#node.hostIP }],
      ...(this.#podIP ? { podIP: this.#podIP, podIPs: [{ ip: this.#podIP }] } : {}),
      startTime: this.#startTime,
      conditions: [
        cond('PodReadyToStartContainers', this.#sandboxReady && !this.#terminating),
        cond('Initialized', this.#initialized),
        cond('ContainersReady', containersReady),
        cond('Ready', containersReady),
      ],
      initContainerStatuses: this.#records.filter((r) => r.kind !== 'main').map((r) => this.#containerStatus(r)),
      containerStatuses: this.#records.filter((r) => r.kind === 'main').map((r) => this.#containerStatus(r)),
    };
  }
}
