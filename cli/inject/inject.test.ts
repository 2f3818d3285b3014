import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, parseAllDocuments } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { injectYaml, applyAddOps, sequencesIndented } from './inject.ts';
import { CliError } from '../errors.ts';
import { valueAt } from '../manifests.ts';

const run = (yaml: string, manual = false) => injectYaml(yaml, 'in.yaml', { manual, version: 'v9.9.9' });

const HELM = `---
# Source: web/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data:
  a: "1"   # kept as written
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the web tier
spec:
  replicas: 2
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
`;

test('only the annotation lines are added; comments, quoting, flow maps and other documents stay byte for byte', () => {
  const { text, report } = run(HELM);
  const added = HELM.replace('    metadata:\n      labels:', '    metadata:\n      annotations:\n        skein.dev/inject: enabled\n      labels:');
  assert.equal(text, added);
  assert.deepEqual(report, ['Deployment/web: annotated']);
});

test('every workload kind is found, in Lists too, at its own template path', () => {
  const yaml = `apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly}
  spec:
    schedule: "@daily"
    jobTemplate:
      spec:
        template:
          spec: {containers: [{name: j, image: x}]}
- apiVersion: v1
  kind: Pod
  spec:
    containers: [{name: p, image: x}]
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db}
  spec:
    template:
      metadata: {labels: {app: db}}
- apiVersion: v1
  kind: Service
  metadata: {name: svc}
`;
  const out = parse(run(yaml).text) as unknown;
  assert.equal(valueAt(out, 'items', 0, 'spec', 'jobTemplate', 'spec', 'template', 'metadata', 'annotations', 'skein.dev/inject'), 'enabled');
  assert.equal(valueAt(out, 'items', 1, 'metadata', 'annotations', 'skein.dev/inject'), 'enabled');
  assert.deepEqual(valueAt(out, 'items', 2, 'spec', 'template', 'metadata'), { labels: { app: 'db' }, annotations: { 'skein.dev/inject': 'enabled' } });
  assert.equal(valueAt(out, 'items', 3, 'metadata', 'annotations'), undefined, 'a Service is not a workload');
  for (const kind of ['Deployment', 'DaemonSet', 'ReplicaSet', 'Job']) {
    const doc = parse(run(`kind: ${kind}\nmetadata: {name: w}\nspec:\n  template:\n    spec: {}\n`).text) as unknown;
    assert.equal(valueAt(doc, 'spec', 'template', 'metadata', 'annotations', 'skein.dev/inject'), 'enabled', kind);
  }
});

test('an existing value is overwritten in place, an empty or null annotations map is filled', () => {
  assert.equal(run('kind: Pod\nmetadata:\n  annotations:\n    skein.dev/inject: "disabled" # off\n').text,
    'kind: Pod\nmetadata:\n  annotations:\n    skein.dev/inject: enabled # off\n');
  assert.equal(run('kind: Pod\nmetadata: {name: a, annotations: {}}\n').text, 'kind: Pod\nmetadata: {name: a, annotations: {skein.dev/inject: enabled}}\n');
  assert.equal(run('kind: Pod\nmetadata: {name: a}\n').text, 'kind: Pod\nmetadata: {name: a, annotations: {skein.dev/inject: enabled}}\n');
  assert.equal(run('kind: Pod\nmetadata:\n  annotations:\n  name: a\n').text, 'kind: Pod\nmetadata:\n  annotations: {skein.dev/inject: enabled}\n  name: a\n');
});

test('running it twice changes nothing the second time', () => {
  const once = run(HELM).text;
  const twice = run(once);
  assert.equal(twice.text, once);
  assert.deepEqual(twice.report, ['Deployment/web: already annotated']);
});

test('invalid YAML names the file and the document', () => {
  assert.throws(() => run('kind: ConfigMap\n---\nkind: Pod\nmetadata: {name: [}\n'),
    (e: unknown) => e instanceof CliError && e.code === 'invalid_yaml' && /in\.yaml, document 2: not valid YAML/.test(e.message));
});

test('--manual writes what the webhook would: the proxy as a native sidecar, the init container, volumes, labels', () => {
  const { text, report } = run(HELM, true);
  const pod = valueAt(parseAllDocuments(text)[1]?.toJS(), 'spec', 'template') as V1Pod;
  assert.deepEqual(pod.spec?.initContainers?.map((c) => c.name), ['skein-init', 'skein-proxy']);
  assert.deepEqual(pod.spec?.containers.map((c) => c.name), ['web']);
  assert.ok(pod.spec?.volumes?.some((v) => v.name === 'skein-identity-token'));
  assert.equal(pod.metadata?.annotations?.['skein.dev/inject'], 'enabled');
  assert.equal(pod.metadata?.annotations?.['skein.dev/created-by'], 'skein/webhook v9.9.9');
  assert.equal(pod.metadata?.labels?.app, 'web');
  assert.equal(pod.metadata?.labels?.['skein.dev/control-plane-ns'], 'skein-system');
  assert.ok(text.startsWith(HELM.slice(0, HELM.indexOf('---\n# Source: web/templates/deployment.yaml'))), 'the ConfigMap is untouched');
  assert.match(text, /name: web # the web tier/);
  assert.deepEqual(report, ['Deployment/web: sidecar written (--manual)']);
});

test('--manual leaves a pod the webhook would skip with the annotation only, and says why', () => {
  const { text, report } = run('kind: Pod\nmetadata: {name: h}\nspec:\n  hostNetwork: true\n  containers: []\n', true);
  assert.equal(text, 'kind: Pod\nmetadata: {name: h, annotations: {skein.dev/inject: enabled}}\nspec:\n  hostNetwork: true\n  containers: []\n');
  assert.match(report[0] ?? '', /not injected: the pod uses the host network/);
});

test('JSON Patch add: into maps, at list positions and at the end', () => {
  const o: Record<string, unknown> = { a: { 'x/y': 1 }, l: [1, 2] };
  applyAddOps(o, [{ op: 'add', path: '/a/b~1c', value: 2 }, { op: 'add', path: '/l/0', value: 0 }, { op: 'add', path: '/l/-', value: 3 }, { op: 'add', path: '/n', value: {} }]);
  assert.deepEqual(o, { a: { 'x/y': 1, 'b/c': 2 }, l: [0, 1, 2, 3], n: {} });
  assert.throws(() => applyAddOps(o, [{ op: 'add', path: '/missing/x', value: 1 }]), /parent does not exist/);
});

test('sequence style is read from the file', () => {
  assert.equal(sequencesIndented('a:\n- b\n'), false);
  assert.equal(sequencesIndented('a:\n  - b\n'), true);
});

test('--manual on a template without metadata writes one metadata map holding annotations and labels', () => {
  const { text } = run('kind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers:\n      - name: j\n        image: x\n', true);
  const doc = parseAllDocuments(text)[0];
  assert.deepEqual(doc?.errors, [], 'no duplicate keys');
  assert.equal(text.match(/^ {4}metadata:$/gm)?.length, 1);
  const meta = valueAt(doc?.toJS(), 'spec', 'template', 'metadata') as V1Pod['metadata'];
  assert.equal(meta?.annotations?.['skein.dev/inject'], 'enabled');
  assert.equal(meta?.labels?.['skein.dev/control-plane-ns'], 'skein-system');
});
