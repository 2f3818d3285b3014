import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyFailure, restoreNat, spawnRunner } from './iptables.ts';
import { requireNetAdmin, effectiveCapabilities } from './capabilities.ts';

test('permission failures of either backend say which capabilities to add', () => {
  for (const stderr of [
    'iptables-restore v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)',
    'iptables-restore: line 2 failed: Operation not permitted',
  ]) {
    const err = classifyFailure('iptables-nft-restore', stderr);
    assert.equal(err.code, 'permission_denied');
    assert.match(err.message, /capabilities\.add: \[NET_ADMIN, NET_RAW\]/);
  }
});

test('a backend whose nat table the kernel lacks points at --iptables-mode', () => {
  const err = classifyFailure('iptables-legacy-restore', "iptables-restore v1.8.9 (legacy): iptables-restore: unable to initialize table 'nat'\nError occurred at line: 1");
  assert.equal(err.code, 'restore_failed');
  assert.match(err.message, /--iptables-mode nft\|legacy/);
});

test('a command that is not installed is iptables_missing, from the real spawn', async () => {
  assert.equal(await spawnRunner('skein-no-such-iptables-restore', []), undefined);
  await assert.rejects(restoreNat(spawnRunner, 'skein-no-such-iptables-restore', '*nat\nCOMMIT\n'), { code: 'iptables_missing' });
});

test('a failing command keeps its status and stderr', async () => {
  assert.deepEqual(await spawnRunner('sh', ['-c', 'cat >&2; exit 3'], 'oops'), { status: 3, stdout: '', stderr: 'oops' });
});

test('NET_ADMIN is bit 12 of CapEff; without /proc the check stays out of the way', () => {
  const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;
  assert.equal(effectiveCapabilities(status('0000000000003000')), 0x3000n);
  assert.doesNotThrow(() => requireNetAdmin(status('0000000000001000')));
  assert.throws(() => requireNetAdmin(status('000001fffeffefff')), { code: 'permission_denied', message: /lacks the NET_ADMIN capability/ });
  assert.doesNotThrow(() => requireNetAdmin(''));
});
