import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, createIntermediateCa, issueLeaf } from './tls.ts';
import { chainsTo } from './identity-client.ts';

const DAY = 86_400_000;

test('chainsTo: a leaf verifies through its issuer to an anchor in the bundle, and not to an unrelated one', async () => {
  const anchor = await createCa({ commonName: 'anchor-a', validForMs: DAY, pathLength: 1 });
  const other = await createCa({ commonName: 'anchor-b', validForMs: DAY, pathLength: 1 });
  const issuer = await createIntermediateCa(anchor, { commonName: 'issuer-a', validForMs: DAY });
  const { cert } = await issueLeaf(issuer, { subject: 'CN=w', dnsNames: ['w'], usages: ['client', 'server'], validForMs: DAY });
  const pem = (c: { cert: { toString(f: 'pem'): string } }) => c.cert.toString('pem');
  const leaf = cert.toString('pem');
  assert.equal(chainsTo(leaf, [pem(issuer)], pem(anchor)), true);
  assert.equal(chainsTo(leaf, [pem(issuer)], `${pem(other)}\n${pem(anchor)}`), true, 'any anchor of an overlap bundle will do');
  assert.equal(chainsTo(leaf, [pem(issuer)], pem(other)), false, 'anchors replaced without overlap: the leaf no longer chains');
  assert.equal(chainsTo(leaf, [], pem(anchor)), false, 'without its issuer the leaf does not reach the anchor');
  assert.equal(chainsTo(leaf, [pem(issuer)], ''), false, 'an empty bundle trusts nothing');
});
