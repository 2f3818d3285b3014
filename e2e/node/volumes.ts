// A pod's volumes as files: emptyDir, hostPath, configMap, secret, downwardAPI
// and projected (with ServiceAccount tokens from the real TokenRequest API,
// bound to the pod, with their audience and expiry). `sync` is level-based:
// call it again and files follow the API objects, tokens are renewed at 80 %.
import { mkdirSync, writeFileSync, renameSync, chownSync, chmodSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CoreV1Api, V1Pod, V1Volume, V1KeyToPath, V1DownwardAPIVolumeFile, V1VolumeProjection } from '@kubernetes/client-node';
import { fieldValue, resourceValue, type PodRuntimeFacts } from './podspec.ts';

export class MountError extends Error {
  readonly code = 'FailedMount';
}

interface TokenState { token: string; renewAt: number }

export interface VolumeContext {
  core: CoreV1Api;
  pod: V1Pod;
  facts: PodRuntimeFacts;
  /** Directory under which each volume gets a folder of its own. */
  root: string;
}

type Files = Map<string, { content: string | Buffer; mode: number }>;

export class PodVolumes {
  readonly #ctx: VolumeContext;
  readonly #tokens = new Map<string, TokenState>();

  constructor(ctx: VolumeContext) {
    this.#ctx = ctx;
  }

  /** Host path that backs a volume, for bind-mounting. */
  pathOf(name: string): string | undefined {
    const v = this.#ctx.pod.spec?.volumes?.find((x) => x.name === name);
    if (!v) return undefined;
    return v.hostPath ? v.hostPath.path : join(this.#ctx.root, name);
  }

  async sync(pod: V1Pod = this.#ctx.pod): Promise<void> {
    this.#ctx.pod = pod;
    for (const v of pod.spec?.volumes ?? []) {
      if (v.hostPath) continue;
      const dir = join(this.#ctx.root, v.name);
      if (v.emptyDir) {
        // emptyDir is writable by any container user, as the kubelet makes it.
        if (!existsSync(dir)) { mkdirSync(dir, { recursive: true }); chmodSync(dir, 0o777); }
        continue;
      }
      const files = await this.#filesOf(v);
      if (files) writeAll(dir, files, pod.spec?.securityContext?.fsGroup);
    }
  }

  async #filesOf(v: V1Volume): Promise<Files | undefined> {
    const files: Files = new Map();
    if (v.configMap) {
      await this.#configMapFiles(files, v.configMap.name ?? '', v.configMap.items, v.configMap.defaultMode ?? 0o644, v.configMap.optional);
    } else if (v.secret) {
      await this.#secretFiles(files, v.secret.secretName ?? '', v.secret.items, v.secret.defaultMode ?? 0o644, v.secret.optional);
    } else if (v.downwardAPI) {
      this.#downwardFiles(files, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644);
    } else if (v.projected) {
      for (const src of v.projected.sources ?? []) await this.#projection(files, v.name, src, v.projected.defaultMode ?? 0o644);
    } else {
      return undefined;
    }
    return files;
  }

  async #projection(files: Files, volume: string, src: V1VolumeProjection, mode: number): Promise<void> {
    if (src.configMap) await this.#configMapFiles(files, src.configMap.name ?? '', src.configMap.items, mode, src.configMap.optional);
    if (src.secret) await this.#secretFiles(files, src.secret.name ?? '', src.secret.items, mode, src.secret.optional);
    if (src.downwardAPI) this.#downwardFiles(files, src.downwardAPI.items ?? [], mode);
    if (src.serviceAccountToken) {
      const t = src.serviceAccountToken;
      const token = await this.#token(`${volume}/${t.path}`, t.audience, t.expirationSeconds ?? 3600);
      files.set(t.path, { content: token, mode });
    }
  }

  async #token(key: string, audience: string | undefined, expirationSeconds: number): Promise<string> {
    const have = this.#tokens.get(key);
    if (have && Date.now() < have.renewAt) return have.token;
    const { pod, core } = this.#ctx;
    const res = await core.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName ?? 'default',
      namespace: pod.metadata?.namespace ?? 'default',
      body: {
        spec: {
          audiences: audience ? [audience] : [],
          expirationSeconds,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' },
        },
      },
    });
    const token = res.status?.token;
    if (!token) throw new MountError(`TokenRequest for ServiceAccount ${pod.spec?.serviceAccountName ?? 'default'} returned no token`);
    const expires = new Date(res.status?.expirationTimestamp ?? Date.now() + expirationSeconds * 1000).getTime();
    // Renew when 80 % of the lifetime has passed, as the kubelet does.
    this.#tokens.set(key, { token, renewAt: Date.now() + 0.8 * (expires - Date.now()) });
    return token;
  }

  async #configMapFiles(files: Files, name: string, items: V1KeyToPath[] | undefined, mode: number, optional: boolean | undefined): Promise<void> {
    const cm = await this.#read(() => this.#ctx.core.readNamespacedConfigMap({ name, namespace: this.#ns() }), `configmap "${name}"`, optional);
    const data: Record<string, string | Buffer> = { ...(cm?.data ?? {}) };
    for (const [k, v] of Object.entries(cm?.binaryData ?? {})) data[k] = Buffer.from(v, 'base64');
    project(files, data, items, mode, `configmap "${name}"`);
  }

  async #secretFiles(files: Files, name: string, items: V1KeyToPath[] | undefined, mode: number, optional: boolean | undefined): Promise<void> {
    const s = await this.#read(() => this.#ctx.core.readNamespacedSecret({ name, namespace: this.#ns() }), `secret "${name}"`, optional);
    const data: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(s?.data ?? {})) data[k] = Buffer.from(v, 'base64');
    for (const [k, v] of Object.entries(s?.stringData ?? {})) data[k] = Buffer.from(v);
    project(files, data, items, mode, `secret "${name}"`);
  }

  #downwardFiles(files: Files, items: V1DownwardAPIVolumeFile[], mode: number): void {
    const { pod, facts } = this.#ctx;
    for (const item of items) {
      let value = '';
      if (item.fieldRef) value = fieldValue(pod, item.fieldRef, facts) ?? '';
      else if (item.resourceFieldRef) {
        const c = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((x) => x.name === item.resourceFieldRef?.containerName);
        if (c) value = resourceValue(c, item.resourceFieldRef);
      }
      files.set(item.path, { content: value, mode: item.mode ?? mode });
    }
  }

  #ns(): string {
    return this.#ctx.pod.metadata?.namespace ?? 'default';
  }

  async #read<T>(fn: () => Promise<T>, what: string, optional: boolean | undefined): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: number }).code === 404) {
        if (optional) return undefined;
        throw new MountError(`${what} not found`);
      }
      throw err;
    }
  }
}

function project(files: Files, data: Record<string, string | Buffer>, items: V1KeyToPath[] | undefined, mode: number, what: string): void {
  if (!items || items.length === 0) {
    for (const [k, v] of Object.entries(data)) files.set(k, { content: v, mode });
    return;
  }
  for (const item of items) {
    const v = data[item.key];
    if (v === undefined) throw new MountError(`${what} has no key "${item.key}"`);
    files.set(item.path, { content: v, mode: item.mode ?? mode });
  }
}

/** Writes each file by rename, so a reader never sees half a file; unchanged files are left alone. */
function writeAll(dir: string, files: Files, fsGroup: number | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [rel, f] of files) {
    if (rel.split('/').includes('..')) throw new MountError(`volume path "${rel}" must not contain ".."`);
    const target = join(dir, rel);
    const content = typeof f.content === 'string' ? Buffer.from(f.content) : f.content;
    if (existsSync(target) && readFileSync(target).equals(content)) continue;
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, content, { mode: f.mode });
    if (fsGroup !== undefined) chownSync(tmp, 0, fsGroup);
    renameSync(tmp, target);
  }
}
