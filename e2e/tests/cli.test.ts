// kubectl-skein against the real cluster, as a user runs it: install piped
// into `kubectl apply --server-side`, check green, the demo app meshed and
// its traffic seen by `stat`, check red with a hint when a CRD is missing,
// the issuer expires within the margin or the webhook is scaled away,
// uninstall piped into `kubectl delete` leaving no orphan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ApiextensionsV1Api, AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { eventually, isNotFound, kubeConfig, kubectl } from '../support/kube.ts';
import { REPO, BASE, CRDS, CLI, pipeSkein, skeinCheck, skeinLeftovers } from '../support/skein.ts';
import { bootstrapIdentity } from '../../operator/identity/bootstrap.ts';
import type { JsonReport } from '../../cli/check/format.ts';
import { CLI_VERSION } from '../../cli/version.ts';
import type { StatRow } from '../../cli/stat/aggregate.ts';

const run = promisify(execFile);

const pipe = pipeSkein;

/** `kubectl skein stat <args> -o json`: its rows. */
async function stat(...args: string[]): Promise<StatRow[]> {
  const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  const { stdout, stderr } = await run(CLI, ['stat', ...args, '-o', 'json'], { env });
  assert.equal(stderr, '', 'no progress on stderr with -o json');
  return (JSON.parse(stdout) as { rows: StatRow[] }).rows;
}

const check = skeinCheck;

test('install | kubectl apply gives a control plane that check passes; a scaled-away webhook fails check with a hint; uninstall removes it', async (t) => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const uninstall = () => pipe('uninstall', 'delete --ignore-not-found --wait=true -f -');
  t.after(async () => { await uninstall(); });

  // A demo left from `make demo` holds pods of an older trust anchor, which check rightly reports.
  await kubectl('delete', 'namespace', 'skein-demo', '--ignore-not-found', '--wait=true');
  await pipe('install', 'apply --server-side -f -');
  // Only what manifests/base carries can be waited for; skein-controller is checked below either way.
  const deployments = parseAllDocuments(await kubectl('kustomize', BASE)).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } })
    .filter((o) => o.kind === 'Deployment').map((o) => o.metadata?.name ?? '');
  assert.ok(deployments.includes('skein-webhook') && deployments.includes('skein-identity'), `base has ${deployments.join(', ')}`);
  for (const d of deployments) await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=180s');

  const green = await check('--output', 'json');
  // linkerd check -o json's layout, flattened: each check with its category.
  const report = JSON.parse(green.stdout) as JsonReport;
  const checks = report.categories.flatMap((c) => c.checks.map((k) => ({ category: c.categoryName, name: k.description, ok: k.result === 'success', result: k.result })));
  const failed = checks.filter((c) => c.result === 'error');
  // The controller is checked as every user's cluster will be; until manifests/base carries it, that check fails, and only that one.
  const controllerShipped = deployments.includes('skein-controller');
  const expected = controllerShipped ? [] : ['Deployment skein-controller is ready'];
  assert.deepEqual(failed.map((c) => c.name), expected, JSON.stringify(failed, null, 2));
  assert.equal(green.code, controllerShipped ? 0 : 1);
  for (const name of ['the API server reaches the webhook (a dry-run pod is injected)', 'Deployment skein-webhook is ready', 'Deployment skein-identity is ready']) {
    assert.ok(checks.some((c) => c.name === name && c.ok), name);
  }
  assert.ok(checks.some((c) => c.category === 'identity' && c.ok && /issuer is valid/.test(c.name)));
  assert.ok(checks.some((c) => c.category === 'crds' && c.ok));

  // The demo app, meshed by its namespace annotation; the client calls echo at 20 requests/s.
  t.after(async () => { await kubectl('delete', 'namespace', 'skein-demo', '--ignore-not-found', '--wait=true'); });
  await kubectl('apply', '-f', join(REPO, 'e2e/demo/echo.yaml'));
  await kubectl('-n', 'skein-demo', 'rollout', 'status', 'deployment/echo', '--timeout=180s');
  await kubectl('apply', '-f', join(REPO, 'e2e/demo/client.yaml'));
  await kubectl('-n', 'skein-demo', 'rollout', 'status', 'deployment/client', '--timeout=180s');
  const rows = await eventually('stat to see echo\'s traffic', async () => {
    const r = await stat('deploy', '-n', 'skein-demo', '--window', '5s');
    return r.some((row) => row.name === 'echo' && row.rps > 0) ? r : undefined;
  }, 120_000);
  const echo = rows.find((r) => r.name === 'echo') as StatRow & { meshed?: string };
  assert.equal(echo.meshed, '3/3');
  assert.equal(echo.successRate, 1);
  assert.ok(echo.p50 !== undefined && echo.p99 !== undefined && echo.p50 <= echo.p99, JSON.stringify(echo));
  // The edge from the client's side: its outbound proxy names echo as the server.
  const fromClient = await stat('deploy', '-n', 'skein-demo', '--from', 'deploy/client', '--window', '5s');
  assert.ok(fromClient.some((r) => r.name === 'echo' && r.requests > 0 && r.successRate === 1), JSON.stringify(fromClient));
  // --proxy: the demo namespace's own data-plane checks (proxies up, /ready with a certificate, trust roots, version).
  const proxied = await check('--proxy', '--wait', '60s', '--output', 'json');
  const demo = (JSON.parse(proxied.stdout) as JsonReport).categories.find((c) => c.categoryName === 'data-plane/skein-demo');
  assert.deepEqual(demo?.checks.map((k) => [k.description, k.result]), [
    ['proxies in skein-demo are up', 'success'], ['proxies in skein-demo have valid certificates (their /ready)', 'success'],
    ['trust roots in skein-demo match the control plane\'s trust anchors', 'success'], [`proxies in skein-demo are at ${CLI_VERSION}`, 'success'],
  ], proxied.stdout);
  await kubectl('delete', 'namespace', 'skein-demo', '--wait=true');

  await t.test('a missing CRD fails check on its line, with a hint', async (t) => {
    // ServiceProfile: the demo that used it is gone, so deleting the CRD takes no object another step needs.
    const crd = 'serviceprofiles.skein.dev';
    const restore = async () => {
      await kubectl('apply', '--server-side', '-k', CRDS);
      await kubectl('wait', '--for=condition=Established', `crd/${crd}`, '--timeout=60s');
    };
    t.after(restore);
    await kubectl('delete', 'crd', crd, '--wait=true');
    const red = await check();
    assert.equal(red.code, 1);
    assert.match(red.stdout, /× CRD serviceprofiles\.skein\.dev is installed and served \(not found\)\n {4}hint: apply the CRDs/);
    assert.match(red.stdout, /✓ CRD trafficsplits\.split\.smi-spec\.io is installed and served/, 'only the deleted CRD fails');
    await restore();
    assert.match((await check()).stdout, /✓ CRD serviceprofiles\.skein\.dev is installed and served \(served: v1alpha1\)/);
  });

  await t.test('an issuer expiring within the margin fails check on the issuer line; a fresh one passes', async (t) => {
    // The user's own issuer, valid 10 days (check wants 30), installed the way --identity-issuer-dir documents.
    const dir = await mkdtemp(join(tmpdir(), 'skein-issuer-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const short = await bootstrapIdentity('cluster.local', 3650, 10);
    await Promise.all([writeFile(join(dir, 'tls.crt'), short.issuerCertPem), writeFile(join(dir, 'tls.key'), short.issuerKeyPem), writeFile(join(dir, 'ca.crt'), short.anchorPem)]);
    await pipe(`install --identity-issuer-dir "${dir}"`, 'apply --server-side -f -');
    // Still valid for 9 days: a warning (‼), as linkerd check warns, which alone does not fail the run.
    const warned = await check();
    assert.match(warned.stdout, /‼ issuer is valid for at least 30 days \(CN=identity\.skein-system\.cluster\.local, 9 days left\)\n {4}hint: issue a new issuer from the trust anchor/);
    assert.match(warned.stdout, /^identity\n-{8}\n/m, 'grouped under its category');
    assert.match(warned.stdout, /✓ trust anchors are valid for at least 30 days/, 'the anchor itself is fine');
    // Restored: a plain install brings a new anchor and a year-long issuer.
    await pipe('install', 'apply --server-side -f -');
    assert.match((await check()).stdout, /✓ issuer is valid for at least 30 days \(CN=identity\.skein-system\.cluster\.local, 36\d days left\)/);
  });

  await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-webhook', '--replicas=0');
  const red = await eventually('check to see the webhook gone', async () => {
    const r = await check();
    return /× the API server reaches the webhook/.test(r.stdout) ? r : undefined;
  }, 90_000);
  assert.equal(red.code, 1);
  assert.match(red.stdout, /× Deployment skein-webhook is ready \(scaled to 0 replicas\)\n {4}hint: scale it up/);
  assert.match(red.stdout, /× the API server reaches the webhook.*\n {4}hint: /);
  assert.match(red.stdout, /Status check results are ×/);

  await uninstall();
  await eventually('namespace skein-system gone', async () => core.readNamespace({ name: 'skein-system' }).then(() => undefined, (err: unknown) => (isNotFound(err) ? true : undefined)), 120_000);
  await assert.rejects(kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'skein-webhook' }), isNotFound);
  // The trust roots are kept for pods still meshed; uninstall's note says how to remove them, and then nothing is left.
  await kubectl('delete', 'configmap', '-A', '-l', 'app.kubernetes.io/managed-by=skein-identity', '--wait=true');
  assert.deepEqual(await skeinLeftovers(), []);
  // CRDs stay (and with them users' objects) unless --crds is given.
  await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'trafficsplits.split.smi-spec.io' });
});
