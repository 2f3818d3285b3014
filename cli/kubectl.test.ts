import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, findKubectl, kubectlCandidates, type KubectlLookup } from './kubectl.ts';
import { CliError } from './errors.ts';

const lookup = (over: Partial<KubectlLookup>): KubectlLookup => ({
  env: { PATH: '/usr/bin:/opt/k/bin' }, home: '/home/u', isExecutable: () => false,
  listDir: (p) => (p === '/home/u/.cache/skein/k8s' ? ['v1.9.0', 'v1.35.4', 'notes'] : []), ...over,
});

test('SKEIN_KUBECTL, then PATH, then the newest cached build', () => {
  assert.deepEqual(kubectlCandidates(lookup({ env: { SKEIN_KUBECTL: '/x/kubectl', PATH: '/usr/bin' } })),
    ['/x/kubectl', '/usr/bin/kubectl', '/home/u/.cache/skein/k8s/v1.35.4/kubectl', '/home/u/.cache/skein/k8s/v1.9.0/kubectl']);
  assert.equal(findKubectl(lookup({ isExecutable: (p) => p.includes('.cache') })), '/home/u/.cache/skein/k8s/v1.35.4/kubectl');
  assert.equal(findKubectl(lookup({ isExecutable: (p) => p === '/opt/k/bin/kubectl' || p.includes('.cache') })), '/opt/k/bin/kubectl');
});

test('no kubectl anywhere says how to provide one', () => {
  assert.throws(() => findKubectl(lookup({})), (e: unknown) => e instanceof CliError && e.code === 'kubectl_not_found' && /SKEIN_KUBECTL/.test(e.message));
});

test('versions compare by number', () => {
  assert.ok(compareVersions('v1.35.4', 'v1.9.0') > 0);
  assert.equal(compareVersions('v1.2', 'v1.2.0'), 0);
});
