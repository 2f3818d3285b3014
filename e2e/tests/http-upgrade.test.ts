// WebSocket and Expect: 100-continue through two meshed proxies on the real
// cluster (issue #18): a client pod calls an echo Service, so the request
// leaves through the client's proxy, crosses mTLS and enters through the echo
// pod's proxy. The loopback version of the same (proxy-image/proxy/upgrade.test.ts)
// covers the edge cases; this one proves the meshed path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/kube.ts';
import { installSkein } from '../support/skein.ts';
import { run, readyPods, meshed, clusterIP, metrics, sum, lastReport, meshedNamespace } from '../support/mesh.ts';
import { IMAGES } from '../support/images.ts';

interface Check { ok: boolean; detail: string }
interface UpgradeReport { final: boolean; attempt: number; websocket: Check; continue: Check }

test('WebSocket upgrade and 100-continue through two meshed proxies', { timeout: 600_000 }, async (t) => {
  await installSkein(t);
  const ns = await meshedNamespace(t);
  await run(ns, { name: 'ws', image: IMAGES.echo, sa: 'ws', port: 8080 });
  const [server] = await readyPods(ns, 'ws', 1);
  await run(ns, { name: 'client', image: IMAGES.echo, sa: 'client', env: { MODE: 'upgrade-check', TARGET: `http://${await clusterIP(ns, 'ws')}/` } });
  const [client] = await readyPods(ns, 'client', 1);
  assert.ok(server && client && meshed(server) && meshed(client), 'both pods are injected');

  const report = await eventually('the client\'s final report', async () => {
    const r = await lastReport<UpgradeReport>(ns, client.metadata?.name ?? '');
    return r?.final ? r : undefined;
  }, 240_000);
  assert.ok(report.websocket.ok, `WebSocket: ${report.websocket.detail}`);
  assert.ok(report.continue.ok, `100-continue: ${report.continue.detail}`);

  // Both proxies carried it: the client's outbound side and the server's inbound side each answered a 101 over mTLS.
  const [out, inb] = await Promise.all([metrics(client), metrics(server)]);
  assert.ok(sum(out, 'response_total', { direction: 'outbound', tls: 'true', status_code: '101' }) >= 1, 'the client\'s proxy counted the 101 on an mTLS connection');
  assert.ok(sum(inb, 'response_total', { direction: 'inbound', tls: 'true', status_code: '101' }) >= 1, 'the server\'s proxy counted the 101 from a meshed client');
  assert.ok(sum(inb, 'response_total', { direction: 'inbound', tls: 'true', status_code: '200' }) >= 1, 'and the 100-continue POST');
});
