// Golden files: the exact patch for a dozen representative pods. Run with
// UPDATE_GOLDEN=1 to rewrite them, then read the diff before committing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { applyPatch } from 'rfc6902';
import type { V1Pod, V1Namespace } from '@kubernetes/client-node';
import { injectPod } from './inject.ts';
import { escapePointer } from './patch.ts';
import { DEFAULTS, defaultsFromEnv } from './config.ts';

const enabledNs: Pick<V1Namespace, 'metadata'> = { metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled' } } };
const plainNs: Pick<V1Namespace, 'metadata'> = { metadata: { name: 'shop' } };
const app = (extra: Partial<V1Pod['spec']> = {}): NonNullable<V1Pod['spec']> => ({
  containers: [{ name: 'app', image: 'example/app:1', ports: [{ containerPort: 8080 }] }],
  ...extra,
});

interface Case { ns: Pick<V1Namespace, 'metadata'>; namespace?: string; pod: V1Pod }

const CASES: Record<string, Case> = {
  'plain': { ns: enabledNs, pod: { metadata: { name: 'web', labels: { app: 'web' }, annotations: { team: 'a' } }, spec: app() } },
  'generate-name-only': { ns: enabledNs, pod: { metadata: { generateName: 'web-7d4b9c-' }, spec: app() } },
  'existing-init-containers': { ns: enabledNs, pod: { metadata: { name: 'migrate' }, spec: app({ initContainers: [{ name: 'migrate', image: 'example/migrate:1' }] }) } },
  'existing-volumes': { ns: enabledNs, pod: { metadata: { name: 'vols' }, spec: app({ volumes: [{ name: 'data', emptyDir: {} }] }) } },
  'named-ports': {
    ns: enabledNs,
    pod: {
      metadata: { name: 'named' },
      spec: { containers: [{ name: 'app', image: 'example/app:1', ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }], readinessProbe: { httpGet: { path: '/ready', port: 'http' } }, livenessProbe: { tcpSocket: { port: 9090 } } }] },
    },
  },
  'host-network': { ns: enabledNs, pod: { metadata: { name: 'hostnet' }, spec: app({ hostNetwork: true }) } },
  'already-injected': { ns: enabledNs, pod: { metadata: { name: 'twice', annotations: { 'skein.dev/injection': 'injected' } }, spec: app({ initContainers: [{ name: 'skein-init', image: 'x' }] }) } },
  'classic-mode': { ns: enabledNs, pod: { metadata: { name: 'classic', annotations: { 'config.skein.dev/native-sidecar': 'disabled' } }, spec: app() } },
  'classic-no-await': { ns: enabledNs, pod: { metadata: { name: 'noawait', annotations: { 'config.skein.dev/native-sidecar': 'false', 'config.skein.dev/proxy-await': 'disabled' } }, spec: app() } },
  'every-override': {
    ns: plainNs,
    pod: {
      metadata: {
        name: 'tuned',
        annotations: {
          'skein.dev/inject': 'enabled',
          'config.skein.dev/proxy-image': 'registry.example.com/skein/proxy:v9',
          'config.skein.dev/proxy-log-level': 'debug',
          'config.skein.dev/proxy-log-format': 'plain',
          'config.skein.dev/skip-inbound-ports': '9000,9100-9110',
          'config.skein.dev/skip-outbound-ports': '5432',
          'config.skein.dev/opaque-ports': '6379',
          'config.skein.dev/proxy-cpu-request': '100m',
          'config.skein.dev/proxy-cpu-limit': '1',
          'config.skein.dev/proxy-memory-request': '64Mi',
          'config.skein.dev/proxy-memory-limit': '256Mi',
          'config.skein.dev/proxy-admin-shutdown': 'enabled',
          'config.skein.dev/shutdown-grace-period': '45s',
          'config.skein.dev/default-inbound-policy': 'all-authenticated',
        },
      },
      spec: app(),
    },
  },
  'namespace-overrides-pod-wins': {
    ns: { metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled', 'config.skein.dev/proxy-log-level': 'warn', 'config.skein.dev/proxy-memory-limit': '512Mi' } } },
    pod: { metadata: { name: 'mixed', annotations: { 'config.skein.dev/proxy-log-level': 'trace' } }, spec: app() },
  },
  'bad-overrides-use-defaults': {
    ns: { metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled', 'config.skein.dev/proxy-memory-limit': 'lots' } } },
    pod: { metadata: { name: 'typos', annotations: { 'config.skein.dev/skip-inbound-ports': '80,99999', 'config.skein.dev/proxy-log-lvl': 'debug', 'config.skein.dev/proxy-await': 'yes' } }, spec: app() },
  },
  'pod-disabled': { ns: enabledNs, pod: { metadata: { name: 'optout', annotations: { 'skein.dev/inject': 'disabled' } }, spec: app() } },
  'pod-enabled-in-plain-namespace': { ns: plainNs, pod: { metadata: { name: 'optin', annotations: { 'skein.dev/inject': 'enabled' } }, spec: app() } },
  'invalid-inject-value': { ns: enabledNs, pod: { metadata: { name: 'oops', annotations: { 'skein.dev/inject': 'yes please' } }, spec: app() } },
  'not-enabled': { ns: plainNs, pod: { metadata: { name: 'bystander' }, spec: app() } },
  'kube-system': { ns: enabledNs, namespace: 'kube-system', pod: { metadata: { name: 'dns' }, spec: app() } },
  'control-plane-component': { ns: enabledNs, pod: { metadata: { name: 'ctl', labels: { 'skein.dev/control-plane-component': 'controller' } }, spec: app() } },
};

const golden = (name: string) => join(import.meta.dirname, 'testdata', `${name}.golden.json`);

for (const [name, c] of Object.entries(CASES)) {
  test(`golden: ${name}`, () => {
    const result = injectPod(c.pod, c.ns, c.namespace ?? 'shop', { version: 'v0.1.0' });
    const actual = JSON.stringify({ decision: result.decision, warnings: result.warnings, patch: result.patch }, null, 2) + '\n';
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden(name))) writeFileSync(golden(name), actual);
    assert.equal(actual, readFileSync(golden(name), 'utf8'), `patch for ${name} differs from ${golden(name)}; UPDATE_GOLDEN=1 rewrites it`);

    // The patch applies cleanly with an independent RFC 6902 implementation...
    const patched = structuredClone(c.pod);
    const errors = applyPatch(patched, result.patch);
    assert.deepEqual(errors.filter((e) => e !== null), [], 'every operation applies');
    // ...adds and never rewrites: every user container is still there, unchanged.
    for (const orig of [...(c.pod.spec?.containers ?? []), ...(c.pod.spec?.initContainers ?? [])]) {
      const same = [...(patched.spec?.containers ?? []), ...(patched.spec?.initContainers ?? [])].find((x) => x.name === orig.name);
      assert.deepEqual(same, orig);
    }
    // ...and a second pass over the result changes nothing.
    if (result.decision.inject) {
      const again = injectPod(patched, c.ns, c.namespace ?? 'shop');
      assert.deepEqual(again.patch, [], 'injection is idempotent');
      assert.equal(again.decision.inject, false);
    }
  });
}

test('native sidecar: iptables, then the proxy, then the user\'s init containers', () => {
  const c = CASES['existing-init-containers']!;
  const patched = structuredClone(c.pod);
  applyPatch(patched, injectPod(c.pod, c.ns, 'shop').patch);
  assert.deepEqual(patched.spec?.initContainers?.map((x) => x.name), ['skein-init', 'skein-proxy', 'migrate']);
  assert.equal(patched.spec?.initContainers?.[1]?.restartPolicy, 'Always');
  assert.deepEqual(patched.spec?.containers.map((x) => x.name), ['app']);
});

test('classic mode: the proxy is the first container and holds the app with postStart', () => {
  const c = CASES['classic-mode']!;
  const patched = structuredClone(c.pod);
  applyPatch(patched, injectPod(c.pod, c.ns, 'shop').patch);
  assert.deepEqual(patched.spec?.containers.map((x) => x.name), ['skein-proxy', 'app']);
  assert.ok(patched.spec?.containers[0]?.lifecycle?.postStart?.exec);
  assert.deepEqual(patched.spec?.initContainers?.map((x) => x.name), ['skein-init']);
});

test('bad override values are reported, named, and replaced by defaults', () => {
  const c = CASES['bad-overrides-use-defaults']!;
  const r = injectPod(c.pod, c.ns, 'shop');
  assert.equal(r.decision.inject, true);
  const byAnnotation = new Map(r.problems.map((p) => [p.annotation, p]));
  assert.match(byAnnotation.get('config.skein.dev/skip-inbound-ports')?.message ?? '', /"99999" is not a port/);
  assert.match(byAnnotation.get('config.skein.dev/proxy-memory-limit')?.message ?? '', /Kubernetes quantity/);
  assert.equal(byAnnotation.get('config.skein.dev/proxy-memory-limit')?.from, 'namespace');
  assert.match(byAnnotation.get('config.skein.dev/proxy-log-lvl')?.message ?? '', /unknown setting/);
  assert.ok(byAnnotation.has('config.skein.dev/proxy-await'));
});

test('hostile annotation values are cut down in messages', () => {
  const huge = 'x'.repeat(100_000) + '\n~/ünïcödé';
  const r = injectPod({ metadata: { name: 'h', annotations: { 'skein.dev/inject': 'enabled', 'config.skein.dev/proxy-log-level': huge } }, spec: app() }, plainNs, 'shop');
  assert.equal(r.decision.inject, true);
  assert.ok((r.warnings[0] ?? '').length < 400, 'the warning stays short');
});

test('native sidecars are the default from Kubernetes 1.29 on', async () => {
  const { supportsNativeSidecars } = await import('./config.ts');
  assert.equal(supportsNativeSidecars('v1.35.4'), true);
  assert.equal(supportsNativeSidecars('v1.29.0-gke.1'), true);
  assert.equal(supportsNativeSidecars('v1.28.9'), false);
  assert.equal(supportsNativeSidecars('v2.0.0'), true);
  assert.equal(supportsNativeSidecars('garbage'), false);
});

test('JSON pointer escaping of keys with / and ~', () => {
  assert.equal(escapePointer('skein.dev/injection'), 'skein.dev~1injection');
  assert.equal(escapePointer('a~b/c~1'), 'a~0b~1c~01');
  const pod: V1Pod = { metadata: { name: 'p', annotations: { 'odd~key/x': 'v' } }, spec: app() };
  const r = injectPod(pod, enabledNs, 'shop');
  const patched = structuredClone(pod);
  assert.deepEqual(applyPatch(patched, r.patch).filter((e) => e !== null), []);
  assert.equal(patched.metadata?.annotations?.['odd~key/x'], 'v');
  assert.equal(patched.metadata?.annotations?.['skein.dev/injection'], 'injected');
});

test('the cluster-wide proxy image comes from SKEIN_PROXY_IMAGE, checked as the annotation is', () => {
  assert.equal(defaultsFromEnv({}).image, DEFAULTS.image);
  assert.equal(defaultsFromEnv({ SKEIN_PROXY_IMAGE: 'registry.example.com/mesh/proxy:v9' }).image, 'registry.example.com/mesh/proxy:v9');
  assert.throws(() => defaultsFromEnv({ SKEIN_PROXY_IMAGE: 'not an image!' }), /SKEIN_PROXY_IMAGE="not an image!" must be an image reference.*skein-webhook Deployment/);
  const { patch } = injectPod({ metadata: { name: 'p', annotations: { 'skein.dev/inject': 'enabled' } }, spec: app() }, plainNs, 'shop', { defaults: defaultsFromEnv({ SKEIN_PROXY_IMAGE: 'registry.example.com/mesh/proxy:v9' }) });
  assert.ok(JSON.stringify(patch).includes('registry.example.com/mesh/proxy:v9'));
});

test('cluster-wide proxy settings come from SKEIN_PROXY_DEFAULTS (the chart\'s proxyDefaults), checked as annotations are; a pod\'s annotation still wins', () => {
  const defaults = defaultsFromEnv({ SKEIN_PROXY_DEFAULTS: '{"proxy-log-level":"debug","proxy-memory-limit":"512Mi","opaque-ports":"5432"}' });
  assert.deepEqual([defaults.logLevel, defaults.memoryLimit, defaults.opaquePorts], ['debug', '512Mi', [{ from: 5432, to: 5432 }]]);
  assert.equal(defaultsFromEnv({ SKEIN_PROXY_DEFAULTS: '' }), DEFAULTS);
  assert.throws(() => defaultsFromEnv({ SKEIN_PROXY_DEFAULTS: '{"proxy-log-level":"loud"}' }), /SKEIN_PROXY_DEFAULTS .*proxy-log-level="loud": .*"debug"/);
  assert.throws(() => defaultsFromEnv({ SKEIN_PROXY_DEFAULTS: '{"proxy-log-levl":"debug"}' }), /proxy-log-levl="debug": unknown setting/);
  assert.throws(() => defaultsFromEnv({ SKEIN_PROXY_DEFAULTS: 'log=debug' }), /is not JSON/);
  assert.throws(() => defaultsFromEnv({ SKEIN_PROXY_DEFAULTS: '{"proxy-await":false}' }), /JSON object of strings/);
  const { patch } = injectPod({ metadata: { name: 'p', annotations: { 'skein.dev/inject': 'enabled', 'config.skein.dev/proxy-log-level': 'warn' } }, spec: app() }, plainNs, 'shop', { defaults });
  assert.match(JSON.stringify(patch), /"name":"SKEIN_LOG_LEVEL","value":"warn"/);
});

test('every pod the injector saw says why: injected pods carry the reason too', () => {
  const annotationsAfter = (c: Case) => {
    const patched = structuredClone(c.pod);
    applyPatch(patched, injectPod(c.pod, c.ns, c.namespace ?? 'shop').patch);
    return patched.metadata?.annotations ?? {};
  };
  assert.equal(annotationsAfter(CASES['plain']!)['skein.dev/injection'], 'injected');
  assert.equal(annotationsAfter(CASES['plain']!)['skein.dev/injection-reason'], 'enabled_by_namespace_annotation');
  assert.equal(annotationsAfter(CASES['pod-enabled-in-plain-namespace']!)['skein.dev/injection-reason'], 'enabled_by_pod_annotation');
  assert.equal(annotationsAfter(CASES['not-enabled']!)['skein.dev/injection-reason'], 'not_enabled');
});

test('a typo in skein.dev/inject is an admission warning naming the accepted values', () => {
  const onPod = injectPod({ metadata: { name: 'typo', annotations: { 'skein.dev/inject': 'enbled' } }, spec: app() }, plainNs, 'shop');
  assert.equal(onPod.decision.inject, false);
  assert.equal(onPod.warnings.length, 1);
  assert.match(onPod.warnings[0] ?? '', /skein\.dev\/inject="enbled" on the pod is not one of enabled, disabled/);
  const onNs = injectPod({ metadata: { name: 'p' }, spec: app() }, { metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'Enabled' } } }, 'shop');
  assert.match(onNs.warnings[0] ?? '', /"Enabled" on namespace shop is not one of enabled, disabled/);
  // Values that were understood are not news.
  assert.deepEqual(injectPod(CASES['pod-disabled']!.pod, enabledNs, 'shop').warnings, []);
});

test('the proxy\'s startup probe waits for readiness in one exec, in both modes, so a normal start records no Unhealthy Warning', () => {
  for (const name of ['plain', 'classic-mode', 'classic-no-await'] as const) {
    const c = CASES[name]!;
    const patched = structuredClone(c.pod);
    applyPatch(patched, injectPod(c.pod, c.ns, 'shop').patch);
    const proxy = [...(patched.spec?.initContainers ?? []), ...(patched.spec?.containers ?? [])].find((x) => x.name === 'skein-proxy');
    const startup = proxy?.startupProbe;
    // An httpGet probe fails (and the kubelet warns) every period until the proxy has its certificate.
    assert.equal(startup?.httpGet, undefined, name);
    const [bin, verb, timeout] = startup?.exec?.command ?? [];
    assert.deepEqual([bin, verb], ['skein-proxy', 'await'], name);
    const awaitSeconds = Number(/^--timeout=(\d+)s$/.exec(timeout ?? '')?.[1]);
    assert.ok(awaitSeconds > 0 && awaitSeconds < (startup?.timeoutSeconds ?? 1), `${name}: await gives up (and explains) before the kubelet times the probe out`);
    // Readiness and liveness start only after the startup probe passed.
    assert.ok(proxy?.readinessProbe?.httpGet && proxy.livenessProbe?.httpGet, name);
  }
});

test('a namespace whose Pod Security level refuses NET_ADMIN gets its pods unmeshed with a reason, not refused', () => {
  for (const level of ['baseline', 'restricted']) {
    const ns = { metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled' }, labels: { 'pod-security.kubernetes.io/enforce': level } } };
    const r = injectPod({ metadata: { name: 'p' }, spec: app() }, ns, 'shop');
    assert.deepEqual(r.decision.inject ? 'injected' : r.decision.reason, 'pod_security_admission');
    assert.ok(!r.decision.inject && r.decision.message.includes(`"${level}"`) && r.decision.message.includes('pod-security.kubernetes.io/enforce=privileged'));
    assert.ok(!JSON.stringify(r.patch).includes('skein-init'), 'no init container in the patch');
  }
  const privileged = { metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled' }, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } };
  assert.equal(injectPod({ metadata: { name: 'p' }, spec: app() }, privileged, 'shop').decision.inject, true);
});
