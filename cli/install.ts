// `kubectl skein install`: the CRDs, the rendered control plane and the
// per-install identity objects (a trust anchor and issuer generated here, or
// read from files), as one stream for `kubectl apply --server-side -f -`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootstrapIdentity, renderIdentityObjects } from '../operator/identity/bootstrap.ts';
import { IssuerInvalid, loadIssuer } from '../operator/identity/issuer.ts';
import { CONTROL_PLANE_NAMESPACE, identityAudience } from '../api/mesh-names.ts';
import { createCa, toPemPair } from '../shared/tls.ts';
import { DEFAULT_SOURCE, imageRef, PROXY_IMAGE_ENV, repositoryOf, type ImageSource } from '../shared/images.ts';
import { CliError } from './errors.ts';
import { joinStreams, parseObjects, toStream, type KubeObject, type Overlay } from './manifests.ts';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
const CONTROL_PLANE_LABEL = 'skein.dev/control-plane-component';
const TRUST_DOMAIN_ENV = 'SKEIN_TRUST_DOMAIN';

export function isDnsName(name: string): boolean {
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}

interface Container { name: string; image?: string; env?: { name: string; value?: string }[] }
interface TokenSource { serviceAccountToken?: { audience?: string } }
type PodTemplated = KubeObject & { spec?: { template?: { spec?: { containers?: Container[]; volumes?: { projected?: { sources?: TokenSource[] } }[] } } } };

/** Sets `name` on every container of every control-plane Deployment that `only` accepts (all by default). */
function withEnv(objects: readonly KubeObject[], name: string, value: string, only: (c: Container) => boolean = () => true): KubeObject[] {
  return objects.map((o) => {
    if (o.kind !== 'Deployment' || o.metadata.labels?.[CONTROL_PLANE_LABEL] === undefined) return o;
    const copy = structuredClone(o) as PodTemplated;
    for (const c of (copy.spec?.template?.spec?.containers ?? []).filter(only)) {
      const env = c.env ?? [];
      const existing = env.find((e) => e.name === name);
      if (existing) existing.value = value;
      else env.push({ name, value });
      c.env = env;
    }
    return copy;
  });
}

/**
 * The trust domain, from this one flag to every place that spells it: every
 * control-plane container's SKEIN_TRUST_DOMAIN (identity names, SPIFFE IDs,
 * the webhook's injected token audience), the audience of every projected
 * token a control-plane pod presents to skein-identity (the controller's), and
 * the name cert-manager gives the issuer (the cert-manager overlay).
 */
export function withTrustDomain(objects: readonly KubeObject[], trustDomain: string): KubeObject[] {
  const audiencePrefix = `identity.${CONTROL_PLANE_NAMESPACE}.`;
  return withEnv(objects, TRUST_DOMAIN_ENV, trustDomain).map((o) => {
    const certificate = o as KubeObject & { spec?: { commonName?: string } };
    if (o.kind === 'Certificate' && certificate.spec?.commonName?.startsWith(audiencePrefix)) {
      return { ...o, spec: { ...certificate.spec, commonName: `${audiencePrefix}${trustDomain}` } };
    }
    if (o.kind !== 'Deployment' || o.metadata.labels?.[CONTROL_PLANE_LABEL] === undefined) return o;
    const volumes = (o as PodTemplated).spec?.template?.spec?.volumes ?? [];
    for (const source of volumes.flatMap((v) => v.projected?.sources ?? [])) {
      const token = source.serviceAccountToken;
      if (token?.audience?.startsWith(audiencePrefix)) token.audience = identityAudience(trustDomain);
    }
    return o;
  });
}

const CLUSTER_NETWORKS_ENV = 'SKEIN_CLUSTER_NETWORKS';

/** `--cluster-networks`: the pod and node CIDRs cluster-authenticated admits, where the manifests read them. */
export function withClusterNetworks(objects: readonly KubeObject[], cidrs: readonly string[]): KubeObject[] {
  return withEnv(objects, CLUSTER_NETWORKS_ENV, cidrs.join(','), (c) => (c.env ?? []).some((e) => e.name === CLUSTER_NETWORKS_ENV));
}

/**
 * The controller image of every control-plane container, and the proxy image
 * the webhook injects (its SKEIN_PROXY_IMAGE), from `--registry` and `--tag`.
 */
export function withImages(objects: readonly KubeObject[], source: ImageSource): KubeObject[] {
  const controller = repositoryOf(imageRef('controller'));
  return objects.map((o) => {
    if (o.kind !== 'Deployment' || o.metadata.labels?.[CONTROL_PLANE_LABEL] === undefined) return o;
    const copy = structuredClone(o) as KubeObject & { spec?: { template?: { spec?: { containers?: Container[]; initContainers?: Container[] } } } };
    const pod = copy.spec?.template?.spec;
    for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
      if (c.image !== undefined && repositoryOf(c.image) === controller) c.image = imageRef('controller', source);
      for (const e of c.env ?? []) if (e.name === PROXY_IMAGE_ENV) e.value = imageRef('proxy', source);
    }
    return copy;
  });
}

export interface PemFiles { cert: string; key: string; ca: string }

export async function readPemDir(dir: string): Promise<PemFiles> {
  const read = (f: string) => readFile(join(dir, f), 'utf8').catch(() => '');
  const [cert, key, ca] = await Promise.all([read('tls.crt'), read('tls.key'), read('ca.crt')]);
  return { cert, key, ca };
}

/** An issuer the user brought: checked as skein-identity will check it, before anything is applied. */
export async function identityFromFiles(files: PemFiles, dir: string): Promise<string> {
  if (!files.ca) throw new CliError('invalid_issuer', `${dir}/ca.crt is missing: it must hold the trust anchor(s) that signed tls.crt`);
  try {
    await loadIssuer(files.cert, files.key, files.ca);
  } catch (err) {
    if (err instanceof IssuerInvalid) throw new CliError('invalid_issuer', `${dir}: ${err.message}`);
    throw err;
  }
  return renderIdentityObjects({ anchorPem: files.ca, issuerCertPem: files.cert, issuerKeyPem: files.key });
}

/**
 * cert-manager issues the issuer; it needs the trust anchor (certificate and
 * key) as Secret skein-trust-anchor for its CA Issuer, and the proxies need
 * the anchor's certificate in ConfigMap skein-trust-anchors.
 */
export function renderAnchorObjects(anchor: { certPem: string; keyPem: string }): string {
  const labels = { [CONTROL_PLANE_LABEL]: 'identity' };
  return toStream([
    { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'skein-trust-anchor', namespace: CONTROL_PLANE_NAMESPACE, labels }, stringData: { 'tls.crt': anchor.certPem, 'tls.key': anchor.keyPem } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'skein-trust-anchors', namespace: CONTROL_PLANE_NAMESPACE, labels }, data: { 'ca-bundle.crt': anchor.certPem } },
  ]);
}

export async function generateAnchor(trustDomain: string, days = 3650): Promise<{ certPem: string; keyPem: string }> {
  const ca = await createCa({ commonName: `root.${CONTROL_PLANE_NAMESPACE}.${trustDomain}`, validForMs: days * 86_400_000, pathLength: 1 });
  return toPemPair(ca);
}

export interface InstallOptions {
  overlay: Overlay;
  trustDomain: string;
  issuerDir: string | undefined;
}

/** The identity objects for this install: generated, or from --identity-issuer-dir. */
export async function identityObjects(opts: InstallOptions): Promise<string> {
  if (opts.overlay === 'cert-manager') {
    if (!opts.issuerDir) return renderAnchorObjects(await generateAnchor(opts.trustDomain));
    const files = await readPemDir(opts.issuerDir);
    if (!files.cert || !files.key) throw new CliError('invalid_issuer', `${opts.issuerDir} must hold the trust anchor as tls.crt and tls.key (with --overlay cert-manager, cert-manager issues the issuer from it)`);
    return renderAnchorObjects({ certPem: files.cert, keyPem: files.key });
  }
  if (opts.issuerDir) return identityFromFiles(await readPemDir(opts.issuerDir), opts.issuerDir);
  return renderIdentityObjects(await bootstrapIdentity(opts.trustDomain));
}

/**
 * Secrets as `data`, never `stringData`: the API server never stores
 * stringData, so it cannot see that a second server-side apply (Argo CD,
 * Flux) carries the same value, and reports a conflict every time.
 */
export function withSecretData(objects: readonly KubeObject[]): KubeObject[] {
  return objects.map((o) => {
    if (o.kind !== 'Secret' || typeof o.stringData !== 'object' || o.stringData === null) return o;
    const { stringData, ...rest } = o;
    const encoded = Object.fromEntries(Object.entries(stringData as Record<string, string>).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    return { ...rest, data: { ...(o.data as Record<string, string> | undefined), ...encoded } };
  });
}

/** The whole install stream: CRDs first (the rest may use them), the control plane, then its identity. */
export function composeInstall(crds: string, controlPlane: string, identity: string, trustDomain: string, images: ImageSource = DEFAULT_SOURCE, clusterNetworks?: readonly string[]): string {
  let objects = withImages(withTrustDomain(parseObjects(controlPlane), trustDomain), images);
  if (clusterNetworks) objects = withClusterNetworks(objects, clusterNetworks);
  return joinStreams([crds, toStream(objects), toStream(withSecretData(parseObjects(identity)))]);
}

