// certify: a ServiceAccount token and a CSR in, a leaf and its chain out.
// The token is checked by the API server (TokenReview, with Skein's identity
// audience); the identity comes from the review, never from the request.
import { identityName, spiffeId } from '../../api/identity-names.ts';
import type { KeyedCertificate } from '../../shared/tls.ts';
import { checkCsr, signLeaf, CertifyRefused } from './sign.ts';

export interface Review {
  authenticated: boolean;
  username?: string;
  audiences?: string[];
  error?: string;
}

export interface CertifyDeps {
  review: (token: string) => Promise<Review>;
  issuer: () => KeyedCertificate;
  trustDomain: string;
  audience: string;
  lifetimeMs: number;
  clockSkewMs: number;
}

export interface Certified {
  identity: string;
  certificate: string;
  chain: string[];
  notAfter: Date;
}

const SA_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

export function serviceAccountOf(username: string | undefined): { namespace: string; name: string } {
  const m = SA_USER.exec(username ?? '');
  if (!m?.[1] || !m[3]) throw new CertifyRefused('token_not_service_account', `the token belongs to "${username ?? ''}", not to a ServiceAccount`);
  return { namespace: m[1], name: m[3] };
}

export async function certify(token: string, csrPem: string, deps: CertifyDeps): Promise<Certified> {
  if (!token) throw new CertifyRefused('token_missing', 'present the pod\'s projected ServiceAccount token as "Authorization: Bearer <token>"');
  const review = await deps.review(token);
  if (!review.authenticated) throw new CertifyRefused('token_invalid', `the API server did not accept the token for audience ${deps.audience}${review.error ? `: ${review.error}` : ''}`);
  if (!(review.audiences ?? []).includes(deps.audience)) throw new CertifyRefused('token_invalid', `the token is not for audience ${deps.audience}`);
  const sa = serviceAccountOf(review.username);
  const identity = identityName(sa.name, sa.namespace, deps.trustDomain);
  const checked = await checkCsr(csrPem, identity);
  const issuer = deps.issuer();
  const leaf = await signLeaf(issuer, checked, {
    identity, spiffeId: spiffeId(sa.name, sa.namespace, deps.trustDomain), lifetimeMs: deps.lifetimeMs, clockSkewMs: deps.clockSkewMs,
  });
  return { identity, certificate: leaf.pem, chain: [issuer.cert.toString('pem') + '\n'], notAfter: leaf.notAfter };
}
