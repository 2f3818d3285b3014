import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBackend, commandsFor, countRules, detectBackend } from './backend.ts';
import type { Runner } from './iptables.ts';

const NFT_VERSION = 'iptables v1.8.9 (nf_tables)';
const LEGACY_VERSION = 'iptables v1.8.9 (legacy)';

test('the backend already holding more rules wins', () => {
  assert.equal(chooseBackend({ nftRules: 0, legacyRules: 12, plainVersion: NFT_VERSION }), 'legacy');
  assert.equal(chooseBackend({ nftRules: 40, legacyRules: 3, plainVersion: LEGACY_VERSION }), 'nft');
});

test('with no rules anywhere, what `iptables --version` names; nft when it says nothing', () => {
  assert.equal(chooseBackend({ nftRules: 0, legacyRules: 0, plainVersion: LEGACY_VERSION }), 'legacy');
  assert.equal(chooseBackend({ nftRules: 0, legacyRules: 0, plainVersion: NFT_VERSION }), 'nft');
  assert.equal(chooseBackend({ nftRules: 0, legacyRules: 0, plainVersion: undefined }), 'nft');
});

test('only what is installed is chosen; plain iptables last; nothing means undefined', () => {
  assert.equal(chooseBackend({ nftRules: undefined, legacyRules: 0, plainVersion: NFT_VERSION }), 'legacy');
  assert.equal(chooseBackend({ nftRules: 0, legacyRules: undefined, plainVersion: LEGACY_VERSION }), 'nft');
  assert.equal(chooseBackend({ nftRules: undefined, legacyRules: undefined, plainVersion: NFT_VERSION }), 'plain');
  assert.equal(chooseBackend({ nftRules: undefined, legacyRules: undefined, plainVersion: undefined }), undefined);
});

test('commands per backend and family', () => {
  assert.deepEqual(commandsFor('nft', 4), { save: 'iptables-nft-save', restore: 'iptables-nft-restore' });
  assert.deepEqual(commandsFor('legacy', 6), { save: 'ip6tables-legacy-save', restore: 'ip6tables-legacy-restore' });
  assert.deepEqual(commandsFor('plain', 4), { save: 'iptables-save', restore: 'iptables-restore' });
});

test('rules are the -A lines of a dump', () => {
  assert.equal(countRules('*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j X\n-A X -j RETURN\nCOMMIT\n'), 2);
});

test('detection asks the tools, and a forced mode asks nothing', async () => {
  const asked: string[] = [];
  const run: Runner = (command) => {
    asked.push(command);
    if (command === 'iptables') return Promise.resolve({ status: 0, stdout: `${LEGACY_VERSION}\n`, stderr: '' });
    if (command === 'iptables-legacy-save') return Promise.resolve({ status: 0, stdout: '-A INPUT -j ACCEPT\n', stderr: '' });
    return Promise.resolve(undefined);
  };
  assert.equal(await detectBackend(run, 'auto'), 'legacy');
  assert.deepEqual(asked.sort(), ['iptables', 'iptables-legacy-save', 'iptables-nft-save']);
  asked.length = 0;
  assert.equal(await detectBackend(run, 'nft'), 'nft');
  assert.deepEqual(asked, []);
  await assert.rejects(detectBackend(() => Promise.resolve(undefined), 'auto'), { code: 'iptables_missing' });
});
