// Golden files for `inject` on what `helm template` prints: `# Source:`
// comments before each document, a template rendered empty, a List. The
// expected outputs sit in testdata/ and are compared byte for byte; a change
// to them is a change a GitOps user sees in their diff. --manual writes the
// webhook's sidecar, so a change there changes helm-chart.manual.yaml too:
// UPDATE_GOLDEN=1 rewrites the goldens, then read the diff before committing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { injectYaml } from './inject.ts';

const TESTDATA = join(import.meta.dirname, 'testdata');
const CLI = join(import.meta.dirname, '../bin/kubectl-skein');
const read = (name: string) => readFile(join(TESTDATA, name), 'utf8');
async function golden(name: string, actual: string): Promise<string> {
  if (process.env.UPDATE_GOLDEN === '1') await writeFile(join(TESTDATA, name), actual);
  return read(name);
}
const inject = (yaml: string, manual: boolean) => injectYaml(yaml, 'helm-chart.yaml', { manual, version: 'v9.9.9' });
const comments = (yaml: string) => yaml.split('\n').filter((l) => l.trimStart().startsWith('#'));

const WORKLOADS = ['Deployment/shop-web', 'Deployment/shop-worker-orders', 'CronJob/shop-report'];

test('helm template output: inject adds only the annotation lines', async () => {
  const input = await read('helm-chart.yaml');
  const { text, report } = inject(input, false);
  assert.equal(text, await golden('helm-chart.injected.yaml', text), 'UPDATE_GOLDEN=1 rewrites testdata/helm-chart.injected.yaml');
  assert.deepEqual(report, WORKLOADS.map((w) => `${w}: annotated`));
  assert.deepEqual(comments(text), comments(input), 'every comment kept, in order');
});

test('helm template output: --manual writes the sidecars; documents without workloads, comments and the empty document stay', async () => {
  const input = await read('helm-chart.yaml');
  const { text, report } = inject(input, true);
  assert.equal(text, await golden('helm-chart.manual.yaml', text), 'UPDATE_GOLDEN=1 rewrites testdata/helm-chart.manual.yaml');
  assert.deepEqual(report, WORKLOADS.map((w) => `${w}: sidecar written (--manual)`));
  assert.deepEqual(comments(text), comments(input), 'every comment kept, in order');
  const untouched = (yaml: string) => yaml.split('---\n').filter((d) => !/kind: (Deployment|List)/.test(d));
  assert.deepEqual(untouched(text), untouched(input), 'ServiceAccount, the empty document, ConfigMap and Service byte for byte');
});

test('a second run over the golden output changes nothing', async () => {
  for (const [file, manual] of [['helm-chart.injected.yaml', false], ['helm-chart.manual.yaml', true]] as const) {
    const expected = await read(file);
    assert.equal(inject(expected, manual).text, expected, file);
  }
});

test('the command prints the golden stream and reports each workload on stderr', async () => {
  const { stdout, stderr } = await promisify(execFile)(CLI, ['inject', '-f', join(TESTDATA, 'helm-chart.yaml')]);
  assert.equal(stdout, await read('helm-chart.injected.yaml'));
  assert.equal(stderr, WORKLOADS.map((w) => `${w}: annotated\n`).join(''));
});
