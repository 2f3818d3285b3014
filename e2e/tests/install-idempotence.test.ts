// What docs/gitops.md promises GitOps users, against the real API server:
// applying the installed manifests again changes nothing, and a second field
// manager (Argo CD, Flux) applying the same files server-side neither
// conflicts with nor undoes what the components own at run time (caBundle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, kubectl } from '../support/kube.ts';
import { REPO } from '../support/skein.ts';

const run = promisify(execFile);
const CLI = join(REPO, 'cli/bin/kubectl-skein');

interface Obj { kind: string; metadata: { name: string; namespace?: string; resourceVersion: string; generation?: number; managedFields?: unknown }; [k: string]: unknown }

/** Every object of the file as the cluster has it now. */
async function snapshot(file: string): Promise<Map<string, Obj>> {
  const list = JSON.parse(await kubectl('get', '-f', file, '-o', 'json')) as { items: Obj[] };
  return new Map(list.items.map((o) => [`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
}

/** The object without what any write moves (resourceVersion, managedFields): what a user would call its content. */
function content(o: Obj): unknown {
  const metadata: Record<string, unknown> = { ...o.metadata };
  delete metadata.resourceVersion;
  delete metadata.managedFields;
  const rest: Record<string, unknown> = { ...o, metadata };
  delete rest.status;
  return rest;
}

const versions = (m: Map<string, Obj>) => Object.fromEntries([...m].map(([k, o]) => [k, o.metadata.resourceVersion]));

test('applying the install twice, and again as a second field manager, changes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-idem-'));
  const file = join(dir, 'install.yaml');
  // The CLI renders with the cluster's kubectl when the runner names it, else finds its own.
  const k8sBin = process.env.SKEIN_K8S_BIN;
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...(k8sBin ? { SKEIN_KUBECTL: join(k8sBin, 'kubectl') } : {}) };
  t.after(async () => {
    const { stdout } = await run(CLI, ['uninstall'], { env });
    writeFileSync(join(dir, 'uninstall.yaml'), stdout);
    await kubectl('delete', '--ignore-not-found', '--wait=true', '-f', join(dir, 'uninstall.yaml'));
    rmSync(dir, { recursive: true, force: true });
  });
  // One rendering (one trust anchor), applied every time, as a Git repo holds it.
  writeFileSync(file, (await run(CLI, ['install'], { env, maxBuffer: 16 * 1024 * 1024 })).stdout);
  await kubectl('delete', 'namespace', 'skein-system', '--ignore-not-found', '--wait=true');
  await kubectl('apply', '--server-side', '-f', file);
  for (const d of ['skein-webhook', 'skein-identity', 'skein-controller']) await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=180s');
  // The webhook has put its caBundle in: that is the field a naive second apply would fight over.
  const caBundle = await eventually('the webhook to inject its caBundle', async () => {
    const v = await kubectl('get', 'mutatingwebhookconfiguration', 'skein-webhook', '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}');
    return v === '' ? undefined : v;
  }, 120_000);

  // The API server type-checks a ValidatingAdmissionPolicy after it is written and records that in its
  // status (a write of its own). The next apply after that write reorders managedFields once (measured:
  // a new resourceVersion, no field changed; the apply after it writes nothing). So: wait for the check,
  // apply once more and require that it changed no content, then require repeated applies to write nothing.
  await eventually('ValidatingAdmissionPolicies type-checked', async () => {
    const vaps = [...(await snapshot(file)).values()].filter((o) => o.kind === 'ValidatingAdmissionPolicy');
    return vaps.every((o) => (o.status as { observedGeneration?: number } | undefined)?.observedGeneration === o.metadata.generation) ? true : undefined;
  }, 60_000);
  const checked = await snapshot(file);
  await kubectl('apply', '--server-side', '-f', file);
  const first = await snapshot(file);
  for (const [key, before] of checked) assert.deepEqual(content(first.get(key) as Obj), content(before), `${key} changed when the install was applied again`);
  await kubectl('apply', '--server-side', '-f', file);
  const second = await snapshot(file);
  assert.deepEqual(versions(second), versions(first), 'a second apply by the same manager wrote something');

  // Argo CD / Flux: another field manager, no --force-conflicts. A conflict makes kubectl exit non-zero.
  await kubectl('apply', '--server-side', '--field-manager=gitops-controller', '-f', file);
  const third = await snapshot(file);
  for (const [key, before] of second) {
    const after = third.get(key);
    assert.ok(after, `${key} disappeared`);
    // Co-owning fields is recorded in managedFields (a write), but nothing a user or controller sees may change.
    assert.deepEqual(content(after), content(before), `${key} changed when a second manager applied it`);
  }
  await kubectl('apply', '--server-side', '--field-manager=gitops-controller', '-f', file);
  assert.deepEqual(versions(await snapshot(file)), versions(third), 'the second manager\'s repeated apply wrote something');
  assert.equal(await kubectl('get', 'mutatingwebhookconfiguration', 'skein-webhook', '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}'), caBundle);
});
