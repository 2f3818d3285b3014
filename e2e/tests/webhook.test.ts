// The injection webhook installed from manifests/ as a user would, running
// as a pod on a real node, called by the real API server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import https from 'node:https';
import { CoreV1Api, AppsV1Api, AdmissionregistrationV1Api, type V1Pod } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, kubectl, deployment, isNotFound } from '../support/kube.ts';
import { IMAGES } from '../support/images.ts';
import { skeinCheck } from '../support/skein.ts';
import type { JsonReport } from '../../cli/check/format.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const BASE = resolve(import.meta.dirname, '../../manifests/base');

const names = (pod: V1Pod) => ({
  init: (pod.spec?.initContainers ?? []).map((c) => c.name),
  containers: pod.spec?.containers.map((c) => c.name) ?? [],
});
const simplePod = (name: string, annotations: Record<string, string> = {}): V1Pod => ({
  metadata: { name, annotations },
  spec: { containers: [{ name: 'app', image: IMAGES.echo, ports: [{ containerPort: 8080 }] }] },
});

function getText(url: string): Promise<string> {
  return new Promise((res, rej) => {
    https.get(url, { rejectUnauthorized: false }, (r) => { let t = ''; r.setEncoding('utf8').on('data', (d: string) => { t += d; }).on('end', () => res(t)); }).on('error', rej);
  });
}

test('the webhook from manifests/base injects annotated namespaces, explains every decision, and its absence never blocks pods', async (t) => {
  await kubectl('apply', '-k', BASE);
  t.after(async () => { await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found'); });
  await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-webhook', '--timeout=120s');
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  await eventually('caBundle applied at run time', async () => {
    const mwc = await admission.readMutatingWebhookConfiguration({ name: 'skein-webhook' });
    return mwc.webhooks?.[0]?.clientConfig.caBundle ? true : undefined;
  });
  const managers = (await admission.readMutatingWebhookConfiguration({ name: 'skein-webhook' })).metadata?.managedFields?.map((f) => f.manager);
  assert.ok(managers?.includes('skein-webhook-cabundle'), 'the caBundle is owned by the webhook\'s own field manager');

  const meshed = await testNamespace(t);
  await kubectl('annotate', '--overwrite', 'namespace', meshed, 'skein.dev/inject=enabled');

  // Dry run: the API server shows the injected pod and creates nothing.
  const dry = await eventually('a dry-run pod comes back injected', async () => {
    const pod = await core.createNamespacedPod({ namespace: meshed, body: simplePod('dry'), dryRun: 'All' });
    return names(pod).init.includes('skein-proxy') ? pod : undefined;
  });
  assert.deepEqual(names(dry), { init: ['skein-init', 'skein-proxy'], containers: ['app'] });
  assert.equal(dry.metadata?.annotations?.['skein.dev/injection'], 'injected');
  assert.equal(dry.metadata?.labels?.['skein.dev/control-plane-ns'], 'skein-system');
  assert.equal((await core.listNamespacedPod({ namespace: meshed })).items.length, 0, 'a dry run creates nothing');
  const dryCli = await kubectl('-n', meshed, 'run', 'cli', `--image=${IMAGES.echo}`, '--dry-run=server', '-o', 'jsonpath={.spec.initContainers[*].name}');
  assert.equal(dryCli, 'skein-init skein-proxy');

  // A Deployment with a bad override: injected with the default, and the owner's Event says why.
  await apps.createNamespacedDeployment({
    namespace: meshed,
    body: (() => {
      const d = deployment('web', 1, { containers: [{ name: 'app', image: IMAGES.echo }] });
      d.spec!.template.metadata!.annotations = { 'config.skein.dev/proxy-memory-limit': 'plenty' };
      return d;
    })(),
  });
  const webPod = await eventually('the web pod', async () => (await core.listNamespacedPod({ namespace: meshed, labelSelector: 'app=web' })).items[0]);
  assert.deepEqual(names(webPod).init, ['skein-init', 'skein-proxy']);
  const proxy = webPod.spec?.initContainers?.find((c) => c.name === 'skein-proxy');
  assert.equal(proxy?.resources?.limits?.memory, '256Mi', 'the default replaced the bad value');
  assert.equal(proxy?.securityContext?.runAsUser, 2102);
  const event = await eventually('an Event on the Deployment', async () => {
    const events = await core.listNamespacedEvent({ namespace: meshed, fieldSelector: 'involvedObject.kind=Deployment,involvedObject.name=web' });
    return events.items.find((e) => e.reason === 'InjectedWithDefaults');
  });
  assert.match(event.message ?? '', /proxy-memory-limit="plenty".*Kubernetes quantity/);

  // Opted out and not enabled: untouched but for the annotation that says why.
  await core.createNamespacedPod({ namespace: meshed, body: simplePod('optout', { 'skein.dev/inject': 'disabled' }) });
  const optout = await core.readNamespacedPod({ namespace: meshed, name: 'optout' });
  assert.deepEqual(names(optout), { init: [], containers: ['app'] });
  assert.equal(optout.metadata?.annotations?.['skein.dev/injection-reason'], 'disabled_by_annotation');
  const plain = await testNamespace(t);
  await core.createNamespacedPod({ namespace: plain, body: simplePod('bystander') });
  const bystander = await core.readNamespacedPod({ namespace: plain, name: 'bystander' });
  assert.deepEqual(names(bystander), { init: [], containers: ['app'] });
  assert.equal(bystander.metadata?.annotations?.['skein.dev/injection-reason'], 'not_enabled');

  // Pod Security baseline refuses skein-init's NET_ADMIN: the pod is created unmeshed, with the reason and a Warning Event, not refused.
  const guarded = await testNamespace(t);
  await kubectl('label', '--overwrite', 'namespace', guarded, 'pod-security.kubernetes.io/enforce=baseline');
  await kubectl('annotate', '--overwrite', 'namespace', guarded, 'skein.dev/inject=enabled');
  // Dry runs until the webhook's namespace cache has the label and the annotation.
  await eventually('a dry-run pod in the baseline namespace comes back skipped for Pod Security', async () => {
    const pod = await core.createNamespacedPod({ namespace: guarded, body: simplePod('baseline'), dryRun: 'All' });
    return pod.metadata?.annotations?.['skein.dev/injection-reason'] === 'pod_security_admission' ? pod : undefined;
  });
  await core.createNamespacedPod({ namespace: guarded, body: simplePod('baseline') });
  const psaPod = await core.readNamespacedPod({ namespace: guarded, name: 'baseline' });
  assert.equal(psaPod.metadata?.annotations?.['skein.dev/injection-reason'], 'pod_security_admission');
  assert.deepEqual(names(psaPod), { init: [], containers: ['app'] });
  const psaEvent = await eventually('a Warning Event naming Pod Security', async () => {
    const events = await core.listNamespacedEvent({ namespace: guarded, fieldSelector: 'involvedObject.name=baseline' });
    return events.items.find((e) => e.reason === 'InjectionSkipped');
  });
  assert.equal(psaEvent.type, 'Warning');
  assert.match(psaEvent.message ?? '', /Pod Security "baseline".*pod-security\.kubernetes\.io\/enforce=privileged/);
  // ...and `kubectl skein check` warns about the namespace, with the way out.
  const report = JSON.parse((await skeinCheck('--output', 'json')).stdout) as JsonReport;
  const psaCheck = report.categories.flatMap((c) => c.checks).find((c) => c.description === 'meshed namespaces allow skein-init under Pod Security Admission');
  assert.equal(psaCheck?.result, 'warning', JSON.stringify(psaCheck));
  assert.match(psaCheck.error ?? '', new RegExp(`\\b${guarded} \\(baseline\\)`));
  assert.match(psaCheck.hint ?? '', /pod-security\.kubernetes\.io\/enforce=privileged/);

  // The webhook counts what it decided.
  const webhookPod = (await core.listNamespacedPod({ namespace: 'skein-system', labelSelector: 'skein.dev/control-plane-component=webhook' })).items[0];
  const metrics = await getText(`https://${webhookPod?.status?.podIP ?? ''}:8443/metrics`);
  assert.match(metrics, /skein_webhook_injection_decisions_total\{decision="injected",reason="namespace"\} [1-9]/);
  assert.match(metrics, /skein_webhook_injection_decisions_total\{decision="skipped",reason="not_enabled"\} [1-9]/);
  assert.match(metrics, /skein_webhook_config_problems_total\{annotation="config.skein.dev\/proxy-memory-limit"\} [1-9]/);

  // failurePolicy Ignore: with the webhook gone, pods are still created (un-meshed).
  await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-webhook', '--replicas=0');
  await eventually('webhook pod gone', async () => {
    const pods = await core.listNamespacedPod({ namespace: 'skein-system', labelSelector: 'skein.dev/control-plane-component=webhook' });
    return pods.items.length === 0 ? true : undefined;
  });
  const t0 = Date.now();
  await core.createNamespacedPod({ namespace: meshed, body: simplePod('while-down') });
  const whileDown = await core.readNamespacedPod({ namespace: meshed, name: 'while-down' });
  assert.deepEqual(names(whileDown), { init: [], containers: ['app'] });
  assert.equal(whileDown.metadata?.annotations?.['skein.dev/injection'], undefined, 'no injection annotation: the pod was never seen by the webhook');
  assert.ok(Date.now() - t0 < 15_000, 'creation was not held longer than the webhook timeout');

  // No silent hole: once the webhook is back, the pod it missed is reported.
  await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-webhook', '--replicas=1');
  const missed = await eventually('a NotMeshed Event for the pod created while the webhook was down', async () => {
    const events = await core.listNamespacedEvent({ namespace: meshed, fieldSelector: 'involvedObject.name=while-down' });
    return events.items.find((e) => e.reason === 'NotMeshed');
  }, 90_000);
  assert.equal(missed.type, 'Warning');
  assert.match(missed.message ?? '', /without the Skein proxy; delete the pod/);
  await core.deleteNamespacedPod({ namespace: meshed, name: 'while-down' }).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
});

test('TrafficSplit is served in v1alpha1..v1alpha4 through the conversion webhook, as Flagger and Argo Rollouts write it', async (t) => {
  const CRD = resolve(import.meta.dirname, '../../crds/trafficsplits.split.smi-spec.io.yaml');
  await kubectl('apply', '--server-side', '-f', CRD);
  await kubectl('apply', '-k', BASE);
  t.after(async () => {
    await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found');
    await kubectl('delete', '-f', CRD, '--ignore-not-found');
  });
  await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-webhook', '--timeout=120s');
  await kubectl('wait', '--for=condition=Established', 'crd/trafficsplits.split.smi-spec.io', '--timeout=60s');
  const ns = await testNamespace(t);
  const { CustomObjectsApi } = await import('@kubernetes/client-node');
  const custom = kc.makeApiClient(CustomObjectsApi);
  const group = 'split.smi-spec.io';
  // Flagger's SMI v1alpha1 provider writes quantities; it may land before the caBundle does, so retry.
  await eventually('a v1alpha1 TrafficSplit is accepted (caBundle in place)', async () => custom.createNamespacedCustomObject({
    group, version: 'v1alpha1', namespace: ns, plural: 'trafficsplits',
    body: { apiVersion: `${group}/v1alpha1`, kind: 'TrafficSplit', metadata: { name: 'books' }, spec: { service: 'books', backends: [{ service: 'books-v1', weight: '900m' }, { service: 'books-v2', weight: '100m' }] } },
  }) as Promise<object>, 90_000);
  const read = async (version: string) => (await custom.getNamespacedCustomObject({ group, version, namespace: ns, plural: 'trafficsplits', name: 'books' })) as { spec: { backends: { weight: string | number }[] } };
  assert.deepEqual((await read('v1alpha4')).spec.backends.map((b) => b.weight), [900, 100]);
  assert.deepEqual((await read('v1alpha2')).spec.backends.map((b) => b.weight), [900, 100]);
  assert.deepEqual((await read('v1alpha1')).spec.backends.map((b) => b.weight), ['900m', '100m'], 'read back as written');

  // Argo Rollouts' v1alpha2 shape, shifted as a canary would.
  await custom.createNamespacedCustomObject({
    group, version: 'v1alpha2', namespace: ns, plural: 'trafficsplits',
    body: { apiVersion: `${group}/v1alpha2`, kind: 'TrafficSplit', metadata: { name: 'authors' }, spec: { service: 'authors', backends: [{ service: 'authors-stable', weight: 50 }, { service: 'authors-canary', weight: 50 }] } },
  });
  const v1 = await custom.getNamespacedCustomObject({ group, version: 'v1alpha1', namespace: ns, plural: 'trafficsplits', name: 'authors' }) as { spec: { backends: { weight: string }[] } };
  assert.deepEqual(v1.spec.backends.map((b) => b.weight), ['50', '50']);

  // What a schema cannot say, /validate does: weights that sum to zero, in any version.
  const refusal = await eventually('the validating webhook refuses a split whose weights sum to zero', async () => {
    try {
      await custom.createNamespacedCustomObject({
        group, version: 'v1alpha1', namespace: ns, plural: 'trafficsplits',
        body: { apiVersion: `${group}/v1alpha1`, kind: 'TrafficSplit', metadata: { generateName: 'zero-' }, spec: { service: 'x', backends: [{ service: 'y', weight: '0' }, { service: 'z', weight: '0' }] } },
      });
      return undefined;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return /sum to zero/.test(message) ? message : undefined;
    }
  });
  assert.match(refusal, /weights sum to zero.*positive weight/);

  // A weight that is no quantity is refused by the schema, with the field named.
  await assert.rejects(custom.createNamespacedCustomObject({
    group, version: 'v1alpha2', namespace: ns, plural: 'trafficsplits',
    body: { apiVersion: `${group}/v1alpha2`, kind: 'TrafficSplit', metadata: { name: 'bad' }, spec: { service: 'x', backends: [{ service: 'y', weight: -5 }] } },
  }), /spec.backends\[0\].weight/);
});

test('hostile values on config.skein.dev annotations: injected with the value normalised or the default, never a 500 or a broken patch (issue #10)', async (t) => {
  await kubectl('apply', '-k', BASE);
  t.after(async () => { await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found'); });
  await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-webhook', '--timeout=120s');
  const ns = await testNamespace(t);
  await kubectl('annotate', '--overwrite', 'namespace', ns, 'skein.dev/inject=enabled');
  const ports = Array.from({ length: 40_000 }, (_, i) => String(i + 1)).join(',');
  const proxyOf = (pod: V1Pod) => pod.spec?.initContainers?.find((c) => c.name === 'skein-proxy');
  const env = (pod: V1Pod, name: string) => proxyOf(pod)?.env?.find((e) => e.name === name)?.value;
  // Dry runs: the API server calls the webhook and applies its patch, and creates nothing.
  const dry = (name: string, annotations: Record<string, string>) => core.createNamespacedPod({ namespace: ns, body: simplePod(name, annotations), dryRun: 'All' });
  const first = await eventually('the webhook answers (caBundle in place)', async () => {
    const pod = await dry('huge', { 'config.skein.dev/skip-inbound-ports': ports });
    return names(pod).init.includes('skein-proxy') ? pod : undefined;
  });
  assert.ok(ports.length > 200_000, 'the annotation is near the 256 KiB limit');
  assert.equal(env(first, 'SKEIN_SKIP_INBOUND_PORTS'), '1-40000', 'a huge list of neighbours becomes one range');

  const hostile: [string, Record<string, string>, (pod: V1Pod) => void][] = [
    ['unicode', { 'config.skein.dev/proxy-cpu-request': '１００m', 'config.skein.dev/proxy-log-level': 'dеbug', 'example.com/note': 'ünïcödé 🦀' },
      (pod) => { assert.equal(proxyOf(pod)?.resources?.requests?.cpu, '20m'); assert.equal(env(pod, 'SKEIN_LOG_LEVEL'), 'info'); }],
    ['json-pointer', { 'config.skein.dev/skip-outbound-ports': '~1/~0', 'config.skein.dev/proxy-memory-limit': '/~', 'example.com/pointer': '/~1' },
      (pod) => { assert.equal(env(pod, 'SKEIN_SKIP_OUTBOUND_PORTS') ?? '', ''); assert.equal(proxyOf(pod)?.resources?.limits?.memory, '256Mi'); }],
    ['too-many-ranges', { 'config.skein.dev/opaque-ports': Array.from({ length: 200 }, (_, i) => String(2 * i + 1)).join(',') },
      (pod) => assert.match(env(pod, 'SKEIN_OPAQUE_PORTS') ?? '', /^25,587,3306/, 'the default opaque ports')],
  ];
  for (const [name, annotations, check] of hostile) {
    const pod = await dry(name, annotations);
    assert.deepEqual(names(pod).init, ['skein-init', 'skein-proxy'], `${name}: injected`);
    for (const [k, v] of Object.entries(annotations)) assert.equal(pod.metadata?.annotations?.[k], v, `${name}: ${k} kept as written`);
    check(pod);
  }
  const webhookPod = (await core.listNamespacedPod({ namespace: 'skein-system', labelSelector: 'skein.dev/control-plane-component=webhook' })).items[0];
  const metrics = await getText(`https://${webhookPod?.status?.podIP ?? ''}:8443/metrics`);
  for (const a of ['proxy-cpu-request', 'proxy-log-level', 'skip-outbound-ports', 'proxy-memory-limit', 'opaque-ports']) {
    assert.match(metrics, new RegExp(`skein_webhook_config_problems_total\\{annotation="config.skein.dev/${a}"\\} [1-9]`), `${a}: the problem is counted by annotation`);
  }
  assert.doesNotMatch(metrics, /skein_webhook_admissions_total\{[^}]*result="error"[^}]*\} [1-9]/, 'no admission ended in an internal error');
});
