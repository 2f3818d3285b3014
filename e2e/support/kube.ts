// What every cluster test needs: clients for the cluster `make test` brought
// up (KUBECONFIG), a namespace of its own, and a way to wait for a condition.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { KubeConfig, CoreV1Api, ApiException } from '@kubernetes/client-node';

export function kubeConfig(): KubeConfig {
  if (!process.env.KUBECONFIG) {
    throw new Error('KUBECONFIG is not set: run cluster tests through `make e2e` (or `node e2e/cluster/cluster.ts run -- node --test ...`)');
  }
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/** Polls `fn` until it returns a value other than undefined, or fails with what it last saw. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(200);
  }
  const cause = lastError instanceof Error ? `: last error ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${cause}`);
}

/** A fresh namespace for one test, deleted when the test ends. */
export async function testNamespace(t: TestContext, prefix = 'e2e'): Promise<string> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'skein.dev/e2e': 'true' } } } });
  t.after(async () => {
    await core.deleteNamespace({ name }).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
  });
  return name;
}
