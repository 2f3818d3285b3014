// Leader election against the real API server: two candidates for one Lease
// in a namespace of the test's own. The leader is a child process killed
// with SIGKILL (no release, as a crashed pod); the other takes the Lease
// once it has gone unrenewed for the lease duration, and not before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { kubeConfig, testNamespace, eventually } from '../support/kube.ts';
import { LeaderElector, kubeLeaseStore } from '../../shared/control-plane/leader.ts';

const LEASE = 'skein-e2e-leader';
const leaderModule = join(import.meta.dirname, '../../shared/control-plane/leader.ts');

/** A candidate in its own process, so it can die the way a pod does. */
function childCandidate(namespace: string, identity: string) {
  const code = `
    import { KubeConfig } from '@kubernetes/client-node';
    import { LeaderElector, kubeLeaseStore } from ${JSON.stringify(leaderModule)};
    const kc = new KubeConfig(); kc.loadFromDefault();
    const e = new LeaderElector({ store: kubeLeaseStore(kc, ${JSON.stringify(namespace)}, ${JSON.stringify(LEASE)}), identity: ${JSON.stringify(identity)},
      onStartedLeading: () => console.log('leading') });
    e.start();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  return { child, leading: () => out.includes('leading') };
}

test('when the leader dies without releasing, the other candidate takes the Lease within the lease duration', async (t) => {
  const kc = kubeConfig();
  const ns = await testNamespace(t, 'leader');
  const a = childCandidate(ns, 'candidate-a');
  t.after(() => { a.child.kill('SIGKILL'); });
  await eventually('candidate a leading', () => Promise.resolve(a.leading() ? true : undefined), 30_000);

  const b = new LeaderElector({ store: kubeLeaseStore(kc, ns, LEASE), identity: 'candidate-b' });
  t.after(() => b.stop(false));
  b.start();
  // Several of b's retries pass while a keeps renewing: b must not take a held Lease.
  await new Promise((r) => setTimeout(r, 5_000));
  assert.equal(b.isLeader, false, 'b does not lead while a renews');

  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  await eventually('candidate b leading', () => Promise.resolve(b.isLeader ? true : undefined), 30_000);
  const takeoverMs = Date.now() - killedAt;
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: LEASE, namespace: ns });
  assert.equal(lease.spec?.holderIdentity, 'candidate-b');
  assert.equal(lease.spec?.leaseTransitions, 1);
  // Reported, not asserted on: the bound is the lease duration (15 s) plus one retry period (2 s).
  t.diagnostic(`takeover ${takeoverMs} ms after the leader was killed (lease 15 s, retry 2 s)`);
  assert.ok(takeoverMs >= 10_000, `b took over ${takeoverMs} ms after the kill, before a's last renewal could have expired`);
});
