// Another trust domain, installed as a user would (`kubectl skein install
// --trust-domain example.org`): the one flag reaches every place that uses it
// (the controller's token audience, identity names, SPIFFE IDs, check), and
// an app meshes end to end with example.org identities. Before #19 the
// controller's token kept the audience identity.skein-system.cluster.local,
// skein-identity refused it, and discovery never served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { eventually, kubectl, kubeConfig } from '../support/kube.ts';
import { CLI, pipeSkein } from '../support/skein.ts';
import { run, readyPods, meshed, clusterIP, metrics, sum, lastReport, meshedNamespace, type LoadReport } from '../support/mesh.ts';
import { identityName, spiffeId } from '../../api/identity-names.ts';
import { IMAGES } from '../support/images.ts';
import type { JsonReport } from '../../cli/check/format.ts';

const core = kubeConfig().makeApiClient(CoreV1Api);
const TRUST_DOMAIN = 'example.org';

/**
 * The URI and DNS SANs of the certificate a meshed pod's proxy presents on its
 * app port (redirected to its inbound side). openssl, not node:tls: the proxy aborts a handshake without a
 * client certificate, and s_client still prints the certificate it was shown.
 */
async function peerNames(ip: string): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', ['-c', `timeout 10 openssl s_client -connect ${ip}:8080 -alpn h2 -showcerts </dev/null 2>/dev/null || true`]);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(stdout)?.[0];
  if (!pem) throw new Error(`${ip}:8080 (redirected to the proxy) showed no certificate: ${stdout.slice(0, 500)}`);
  return new X509Certificate(pem).subjectAltName ?? '';
}

test(`install --trust-domain ${TRUST_DOMAIN}: an app meshes end to end with ${TRUST_DOMAIN} identities`, { timeout: 600_000 }, async (t) => {
  t.after(async () => {
    await pipeSkein('uninstall', 'delete --ignore-not-found --wait=true -f -');
    // MeshIdentity default outlives an uninstall (CRD objects stay); the next install must not inherit example.org.
    await kubectl('delete', 'meshidentity', 'default', '--ignore-not-found').catch(() => '');
  });
  await kubectl('delete', 'namespace', 'skein-system', '--ignore-not-found', '--wait=true');
  // On a fresh cluster the CRD (and so the kind) does not exist yet.
  await kubectl('delete', 'meshidentity', 'default', '--ignore-not-found').catch(() => '');
  await pipeSkein(`install --trust-domain ${TRUST_DOMAIN} --cluster-networks 198.18.0.0/15`, 'apply --server-side -f -');
  for (const d of ['skein-identity', 'skein-controller', 'skein-webhook']) await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=180s');

  const ns = await meshedNamespace(t);
  await eventually('the trust roots in the new namespace', () => core.readNamespacedConfigMap({ namespace: ns, name: 'skein-trust-roots' }).catch(() => undefined));
  await run(ns, { name: 'b', image: IMAGES.echo, sa: 'b', port: 8080 });
  const [b] = await readyPods(ns, 'b', 1);
  assert.ok(b && meshed(b), 'b is injected');
  await run(ns, { name: 'a', image: IMAGES.load, sa: 'a', env: { TARGET: `http://${await clusterIP(ns, 'b')}/`, RPS: '20' } });
  const [a] = await readyPods(ns, 'a', 1);
  const report = await eventually('A\'s requests answered through the mesh', async () => {
    const r = await lastReport<LoadReport>(ns, a?.metadata?.name ?? '');
    return r && r.ok >= 40 ? r : undefined;
  }, 120_000);
  assert.deepEqual(report.failed, {}, 'no request failed');

  // Both proxies checked the other's example.org identity on every request.
  assert.ok(sum(await metrics(b), 'request_total', { direction: 'inbound', tls: 'true', client_id: identityName('a', ns, TRUST_DOMAIN) }) >= 40);
  assert.ok(sum(await metrics(a!), 'response_total', { direction: 'outbound', server_id: identityName('b', ns, TRUST_DOMAIN), classification: 'success' }) >= 40);

  // The peer certificate b's proxy presents: both names in example.org.
  const names = await peerNames(b.status?.podIP ?? '');
  assert.match(names, new RegExp(`URI:${spiffeId('b', ns, TRUST_DOMAIN).replaceAll('.', '\\.')}(,|$)`));
  assert.match(names, new RegExp(`DNS:${identityName('b', ns, TRUST_DOMAIN).replaceAll('.', '\\.')}(,|$)`));
  assert.doesNotMatch(names, /cluster\.local/);
  // check agrees: one trust domain across the control plane.
  const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  const out = await promisify(execFile)(CLI, ['check', '--output', 'json'], { env }).then((r) => r.stdout, (err: { stdout?: string }) => err.stdout ?? '');
  const line = (JSON.parse(out) as JsonReport).categories.flatMap((c) => c.checks).find((c) => c.description === 'the control plane agrees on one trust domain');
  assert.equal(line?.result, 'success', JSON.stringify(line));
});
