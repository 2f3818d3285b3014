// The webhook's serving certificate: mounted from a Secret (cert-manager or
// anything writing tls.crt/tls.key/ca.crt) and re-read when it changes, or
// generated at start when none is mounted. The CA goes to the API server as
// caBundle at run time, never into a manifest.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, issueLeaf, privateKeyPem } from '../shared/tls.ts';

export interface ServingCert {
  cert: string;
  key: string;
  /** PEM of the CA that signed `cert`: what the API server must trust. */
  ca: string;
}

export function serviceDnsNames(service: string, namespace: string, clusterDomain: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}

/** A self-signed CA and a leaf for the Service's names, valid a year; made anew at every start. */
export async function generateServingCert(dnsNames: readonly string[], ipAddresses: readonly string[] = []): Promise<ServingCert> {
  const YEAR = 365 * 24 * 3_600_000;
  const ca = await createCa({ commonName: `skein-webhook-ca (${dnsNames[0] ?? ''})`, validForMs: YEAR, pathLength: 0 });
  const leaf = await issueLeaf(ca, { subject: `CN=${dnsNames[0] ?? 'skein-webhook'}`, dnsNames, ipAddresses, usages: ['server'], validForMs: YEAR });
  return { cert: leaf.cert.toString('pem') + '\n', key: await privateKeyPem(leaf.keys!.privateKey), ca: ca.cert.toString('pem') + '\n' };
}

export async function readServingCert(dir: string): Promise<ServingCert> {
  const [cert, key, ca] = await Promise.all(['tls.crt', 'tls.key', 'ca.crt'].map((f) => readFile(join(dir, f), 'utf8').catch(() => '')));
  if (!cert || !key) throw new Error(`${dir} must hold tls.crt and tls.key (a kubernetes.io/tls Secret)`);
  // Without ca.crt the certificate is its own trust root (self-signed or a CA-issued leaf with the chain appended).
  return { cert, key, ca: ca || cert };
}

/**
 * Polls the mounted files (the kubelet swaps them atomically) and calls
 * `onChange` with the new certificate. Polling, not fs.watch: a symlink swap
 * in a Secret volume is not reported reliably on every filesystem.
 */
export function watchServingCert(dir: string, onChange: (c: ServingCert) => void, onError: (err: unknown) => void, intervalMs = 2_000): () => void {
  let last = '';
  const fingerprint = async () => (await Promise.all(['tls.crt', 'tls.key', 'ca.crt'].map((f) => stat(join(dir, f)).then((s) => `${s.mtimeMs}:${s.size}`, () => '-')))).join('|');
  void fingerprint().then((f) => { last = f; });
  const timer = setInterval(() => {
    void (async () => {
      const f = await fingerprint();
      if (f === last) return;
      last = f;
      onChange(await readServingCert(dir));
    })().catch(onError);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
