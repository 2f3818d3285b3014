// The cluster's certificates and keys: one CA that serves and authenticates,
// the API server's serving certificate, a client certificate per identity and
// the ServiceAccount token signing key. Created once per cluster directory.
import { existsSync } from 'node:fs';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, issueLeaf, toPemPair, caFromPem, privateKeyPem, publicKeyPem, generateKeyPair, type KeyedCertificate } from '../../shared/tls.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { NETWORK, NODE_NAMES, paths, type Layout } from './components.ts';

const YEAR = 365 * 24 * 3_600_000;

/** Client identities: the user name is the CN, groups are O (as the API server reads them). */
function identities(dir: string): { name: string; subject: string; file: string }[] {
  const p = paths(dir);
  return [
    { name: 'admin', subject: 'CN=skein-admin, O=system:masters', file: p.adminKubeconfig },
    { name: 'controller-manager', subject: 'CN=system:kube-controller-manager', file: p.controllerManagerKubeconfig },
    { name: 'scheduler', subject: 'CN=system:kube-scheduler', file: p.schedulerKubeconfig },
    { name: 'kube-proxy', subject: 'CN=system:kube-proxy', file: p.kubeProxyKubeconfig },
    // Nodes authenticate as kubelets do, so the Node authorizer and NodeRestriction apply to them.
    ...NODE_NAMES.map((name) => ({ name, subject: `CN=system:node:${name}, O=system:nodes`, file: p.nodeKubeconfig(name) })),
  ];
}

async function write(path: string, content: string): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
}

async function loadOrCreateCa(dir: string, base: string, commonName: string): Promise<KeyedCertificate> {
  const crt = join(dir, `${base}.crt`);
  const key = join(dir, `${base}.key`);
  if (existsSync(crt) && existsSync(key)) {
    return caFromPem({ certPem: await readFile(crt, 'utf8'), keyPem: await readFile(key, 'utf8') });
  }
  const ca = await createCa({ commonName, validForMs: YEAR });
  const pem = await toPemPair(ca);
  await write(key, pem.keyPem);
  await write(crt, pem.certPem);
  return ca;
}

/** Idempotent: files that exist are kept, so a restarted cluster keeps its identity. */
export async function ensurePki(layout: Layout): Promise<void> {
  const p = paths(layout.dir);
  await mkdir(p.pki, { recursive: true, mode: 0o700 });
  const ca = await loadOrCreateCa(p.pki, 'ca', 'skein-e2e-ca');
  const caPem = ca.cert.toString('pem') + '\n';

  if (!existsSync(join(p.pki, 'apiserver.crt'))) {
    const leaf = await issueLeaf(ca, {
      subject: 'CN=kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${NETWORK.clusterDomain}`],
      ipAddresses: ['127.0.0.1', NETWORK.kubernetesServiceIp, NETWORK.hostIp],
      usages: ['server'],
      validForMs: YEAR,
    });
    await write(join(p.pki, 'apiserver.key'), await privateKeyPem(leaf.keys!.privateKey));
    await write(join(p.pki, 'apiserver.crt'), leaf.cert.toString('pem') + '\n');
  }

  // The kubelet API: the API server's client certificate, and each node's serving certificate.
  if (!existsSync(join(p.pki, 'apiserver-kubelet-client.crt'))) {
    const leaf = await issueLeaf(ca, { subject: 'CN=kube-apiserver-kubelet-client, O=system:masters', usages: ['client'], validForMs: YEAR });
    await write(join(p.pki, 'apiserver-kubelet-client.key'), await privateKeyPem(leaf.keys!.privateKey));
    await write(join(p.pki, 'apiserver-kubelet-client.crt'), leaf.cert.toString('pem') + '\n');
  }
  for (const name of NODE_NAMES) {
    if (existsSync(join(p.pki, `${name}-serving.crt`))) continue;
    const leaf = await issueLeaf(ca, { subject: `CN=system:node:${name}`, dnsNames: [name], ipAddresses: [NETWORK.hostIp], usages: ['server'], validForMs: YEAR });
    await write(join(p.pki, `${name}-serving.key`), await privateKeyPem(leaf.keys!.privateKey));
    await write(join(p.pki, `${name}-serving.crt`), leaf.cert.toString('pem') + '\n');
  }

  if (!existsSync(join(p.pki, 'front-proxy-client.crt'))) {
    const frontProxyCa = await loadOrCreateCa(p.pki, 'front-proxy-ca', 'skein-e2e-front-proxy-ca');
    const leaf = await issueLeaf(frontProxyCa, { subject: 'CN=front-proxy-client', usages: ['client'], validForMs: YEAR });
    await write(join(p.pki, 'front-proxy-client.key'), await privateKeyPem(leaf.keys!.privateKey));
    await write(join(p.pki, 'front-proxy-client.crt'), leaf.cert.toString('pem') + '\n');
  }

  if (!existsSync(join(p.pki, 'sa.key'))) {
    const sa = await generateKeyPair();
    await write(join(p.pki, 'sa.pub'), await publicKeyPem(sa.publicKey));
    await write(join(p.pki, 'sa.key'), await privateKeyPem(sa.privateKey));
  }

  const server = `https://127.0.0.1:${layout.ports.apiserver}`;
  for (const id of identities(layout.dir)) {
    const target = id.file;
    const name = id.name;
    if (existsSync(target)) continue;
    const leaf = await issueLeaf(ca, { subject: id.subject, usages: ['client'], validForMs: YEAR });
    await write(target, renderKubeconfig({
      name: `skein-e2e-${name}`,
      server,
      caPem,
      certPem: leaf.cert.toString('pem') + '\n',
      keyPem: await privateKeyPem(leaf.keys!.privateKey),
    }));
  }
}

/** TLS options for talking to the API server as the cluster admin. */
export async function adminTls(layout: Layout): Promise<{ ca: string; cert: string; key: string }> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(paths(layout.dir).adminKubeconfig);
  const user = kc.getCurrentUser();
  const cluster = kc.getCurrentCluster();
  const dec = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
  return { ca: dec(cluster?.caData), cert: dec(user?.certData), key: dec(user?.keyData) };
}
