// Certificates for the discovery tests: a trust anchor, the controller's
// serving identity and a proxy's client identity, made by shared/tls.ts the
// way the identity service makes them (real keys, real chains).
import { createCa, issueLeaf, privateKeyPem, type KeyedCertificate } from '../../shared/tls.ts';
import { identityName } from '../../api/identity-names.ts';

export const CONTROLLER_IDENTITY = identityName('skein-controller', 'skein-system', 'cluster.local');

/** Waits for `cond`; generous by default: a guard against hanging, not a deadline (a machine at load 10 took over 5 s to reconnect). */
export async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Pem { cert: string; key: string; ca: string }

export async function leaf(ca: KeyedCertificate, identity: string, usages: ('server' | 'client')[]): Promise<Pem> {
  const l = await issueLeaf(ca, { subject: `CN=${identity}`, dnsNames: [identity], usages, validForMs: 3_600_000 });
  return { cert: l.cert.toString('pem') + '\n', key: await privateKeyPem(l.keys!.privateKey), ca: ca.cert.toString('pem') + '\n' };
}

export async function testPki(clientIdentity = identityName('web', 'shop', 'cluster.local')) {
  const ca = await createCa({ commonName: 'discovery-test-anchor', validForMs: 3_600_000 });
  return { ca, server: await leaf(ca, CONTROLLER_IDENTITY, ['server']), client: await leaf(ca, clientIdentity, ['client']) };
}
