// `cluster up` is idempotent and `cluster down` leaves no process and no port
// behind. Runs a second, private cluster so the shared one is not disturbed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { processesMentioning, isListening } from '../cluster/procs.ts';
import { portsOf, type Ports } from '../cluster/components.ts';

const run = promisify(execFile);
const CLUSTER = resolve(import.meta.dirname, '../cluster/cluster.ts');

test('up twice gives one cluster; down leaves no process, port or state', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'skein-lifecycle-'));
  const dir = join(parent, 'cluster');
  const env = { ...process.env, SKEIN_CLUSTER_DIR: dir };
  // Control plane only: one cluster's nodes per host, and the shared cluster has them.
  const cluster = (verb: string) => run(process.execPath, [CLUSTER, ...(verb === 'up' ? ['up', '--control-plane-only'] : [verb])], { env, timeout: 240_000 });
  try {
    const first = await cluster('up');
    assert.equal(first.stdout.trim().split('\n').pop(), join(dir, 'kubeconfig'), 'up prints the kubeconfig path on its last line');
    const pidsAfterFirst = processesMentioning(dir).sort();
    assert.ok(pidsAfterFirst.length >= 4, `four control-plane processes run (found ${pidsAfterFirst.length})`);
    const ports = (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { ports: Ports }).ports;

    const second = await cluster('up');
    assert.match(second.stderr, /already up/);
    assert.deepEqual(processesMentioning(dir).sort(), pidsAfterFirst, 'a second up starts nothing new');
    await cluster('status');

    // A second cluster's nodes would tear down the shared cluster's: they are refused, and say why.
    assert.ok(existsSync('/run/skein-local-node.lock'), 'the shared cluster\'s nodes hold the host');
    const sharedLock = readFileSync('/run/skein-local-node.lock', 'utf8');
    await assert.rejects(run(process.execPath, [CLUSTER, 'up'], { env, timeout: 120_000 }), (err: { stderr?: string }) =>
      /another Skein local node .* runs on this host/.test(err.stderr ?? ''));
    assert.equal(readFileSync('/run/skein-local-node.lock', 'utf8'), sharedLock, 'the shared node still holds the host');

    await cluster('down');
    assert.deepEqual(processesMentioning(dir), []);
    for (const port of portsOf(ports)) assert.equal(isListening(port), false, `port ${port} is closed`);
    assert.equal(existsSync(dir), false, 'the cluster directory is removed');
    await assert.rejects(cluster('status'), (err: { code?: number }) => err.code === 3, 'status reports a stopped cluster');
  } finally {
    await cluster('down').catch(() => undefined);
    // down keeps the last run's logs beside the cluster directory; this one was ours alone.
    if (processesMentioning(dir).length === 0) rmSync(parent, { recursive: true, force: true });
  }
});
