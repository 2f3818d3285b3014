import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { renderKubeconfig } from './kubeconfig.ts';

test('the rendered kubeconfig loads in the official client with inline credentials', () => {
  const text = renderKubeconfig({ name: 'x', server: 'https://127.0.0.1:6443', caPem: 'CA', certPem: 'CERT', keyPem: 'KEY' });
  const kc = new KubeConfig();
  kc.loadFromString(text);
  assert.equal(kc.getCurrentContext(), 'x');
  assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  assert.equal(Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64').toString(), 'CA');
  assert.equal(Buffer.from(kc.getCurrentUser()?.certData ?? '', 'base64').toString(), 'CERT');
  assert.equal(Buffer.from(kc.getCurrentUser()?.keyData ?? '', 'base64').toString(), 'KEY');
});
