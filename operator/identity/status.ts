// The MeshIdentity status as a pure function of what the identity service
// observes: which issuer it signs with, what the issuer Secret holds, the
// current anchors, its counts. Conditions keep their lastTransitionTime
// unless their status changes; the Events a user must act on come from the
// transitions, so a level-triggered loop never repeats them.
import type { X509Certificate } from 'node:crypto';
import type { MeshIdentityStatusValue } from '../../api/crds/meshidentity.ts';
import { mergeConditions, type Condition, type WantedCondition as Wanted } from '../../api/crds/conditions.ts';

export type CertificateStatus = NonNullable<MeshIdentityStatusValue['issuer']>;

/** What the issuer Secret holds, compared with the issuer in use. */
export type SecretState =
  | { state: 'waiting' }
  | { state: 'missing' }
  | { state: 'invalid'; reason: string; cert?: X509Certificate }
  | { state: 'loaded' };

export interface Observation {
  generation?: number;
  /** Problems with the spec; the service then keeps its last good settings. */
  specProblems: string[];
  issuerRef: string;
  /** The issuer certify calls are signed with now (the last good one). */
  active?: X509Certificate;
  secret: SecretState;
  anchors: X509Certificate[];
  /** Why there are no anchors (ConfigMap missing, no ca-bundle.crt), if so. */
  anchorsProblem?: string;
  issued: number;
  rejected: number;
  now: Date;
  expiringSoonMarginMs: number;
}

export function describeCertificate(c: X509Certificate): CertificateStatus {
  return { subject: c.subject, fingerprintSHA256: c.fingerprint256, notAfter: new Date(c.validTo).toISOString() };
}

const signedByOneOf = (c: X509Certificate, anchors: X509Certificate[]) => anchors.some((a) => c.checkIssued(a) && c.verify(a.publicKey));


function issuerValid(o: Observation): Wanted {
  const keeping = o.active ? `; still signing with ${o.active.subject} (${o.active.fingerprint256}) until it is fixed` : '; nothing can be certified until it is fixed';
  switch (o.secret.state) {
    case 'loaded': return { type: 'IssuerValid', status: 'True', reason: 'IssuerLoaded', message: `signing with ${o.active?.subject ?? 'the issuer'} from Secret ${o.issuerRef}` };
    case 'waiting': return { type: 'IssuerValid', status: 'Unknown', reason: 'Loading', message: `reading Secret ${o.issuerRef}` };
    case 'missing': return { type: 'IssuerValid', status: 'False', reason: 'SecretMissing', message: `Secret ${o.issuerRef} does not exist; create it with operator/identity/bootstrap.ts or cert-manager${keeping}` };
    case 'invalid': return { type: 'IssuerValid', status: 'False', reason: 'IssuerInvalid', message: `Secret ${o.issuerRef}: ${o.secret.reason}${keeping}` };
  }
}

function expiringSoon(o: Observation): Wanted {
  if (!o.active) return { type: 'IssuerExpiringSoon', status: 'Unknown', reason: 'NoIssuer', message: 'no issuer is loaded' };
  const notAfter = new Date(o.active.validTo);
  const leftMs = notAfter.getTime() - o.now.getTime();
  const days = (leftMs / 86_400_000).toFixed(1);
  return leftMs < o.expiringSoonMarginMs
    ? { type: 'IssuerExpiringSoon', status: 'True', reason: 'ExpiresWithinMargin', message: `issuer ${o.active.subject} expires at ${notAfter.toISOString()} (${days} days); rotate it (docs/identity.md) before then` }
    : { type: 'IssuerExpiringSoon', status: 'False', reason: 'NotExpiringSoon', message: `issuer expires at ${notAfter.toISOString()} (${days} days)` };
}

function anchorMismatch(o: Observation): Wanted {
  if (o.anchors.length === 0) return { type: 'TrustAnchorMismatch', status: 'Unknown', reason: 'NoTrustAnchors', message: o.anchorsProblem ?? 'no trust anchors are loaded' };
  const candidates = [o.active, o.secret.state === 'invalid' ? o.secret.cert : undefined].filter((c): c is X509Certificate => c !== undefined);
  const unsigned = candidates.filter((c) => !signedByOneOf(c, o.anchors));
  if (unsigned.length > 0) {
    const names = [...new Set(unsigned.map((c) => `${c.subject} (${c.fingerprint256})`))].join(', ');
    return { type: 'TrustAnchorMismatch', status: 'True', reason: 'IssuerNotSignedByAnchor', message: `issuer ${names} is not signed by any anchor in the bundle (${o.anchors.map((a) => a.subject).join('; ')}); proxies will refuse its certificates. Add its anchor to the bundle or switch to an issuer signed by one` };
  }
  if (candidates.length === 0) return { type: 'TrustAnchorMismatch', status: 'Unknown', reason: 'NoIssuer', message: 'no issuer is loaded' };
  return { type: 'TrustAnchorMismatch', status: 'False', reason: 'IssuerSignedByAnchor', message: `the issuer chains to an anchor of the bundle (${o.anchors.length} anchor${o.anchors.length === 1 ? '' : 's'})` };
}

function specValid(o: Observation): Wanted {
  return o.specProblems.length === 0
    ? { type: 'SpecValid', status: 'True', reason: 'Valid', message: 'the spec is in use' }
    : { type: 'SpecValid', status: 'False', reason: 'InvalidSpec', message: `${o.specProblems.join('; ')}; the identity service keeps its last good settings` };
}

export function desiredStatus(previous: MeshIdentityStatusValue | undefined, o: Observation): MeshIdentityStatusValue {
  const conditions = mergeConditions(previous?.conditions, [issuerValid(o), expiringSoon(o), anchorMismatch(o), specValid(o)], o.generation, o.now);
  return {
    ...(o.generation !== undefined ? { observedGeneration: o.generation } : {}),
    ...(o.active ? { issuer: describeCertificate(o.active) } : {}),
    trustAnchors: o.anchors.map(describeCertificate),
    certificatesIssued: o.issued,
    certificatesRejected: o.rejected,
    conditions,
  };
}

const withoutCounts = (s: MeshIdentityStatusValue | undefined) => JSON.stringify({ ...s, certificatesIssued: undefined, certificatesRejected: undefined });

/** What a write would change: nothing, only the counts (which may wait), or something a user must see now. */
export function statusChange(current: MeshIdentityStatusValue | undefined, next: MeshIdentityStatusValue): 'none' | 'counts' | 'state' {
  if (withoutCounts(current) !== withoutCounts(next)) return 'state';
  return current?.certificatesIssued === next.certificatesIssued && current?.certificatesRejected === next.certificatesRejected ? 'none' : 'counts';
}

export interface IdentityEvent { type: 'Normal' | 'Warning'; reason: string; message: string }

/** Whether a condition's status is the bad one a user must fix. */
const BAD: Record<string, Condition['status']> = { IssuerValid: 'False', IssuerExpiringSoon: 'True', TrustAnchorMismatch: 'True', SpecValid: 'False' };

/** Events for what changed between two statuses: a condition turning bad, or recovering; a new issuer in use. */
export function eventsBetween(before: MeshIdentityStatusValue | undefined, after: MeshIdentityStatusValue): IdentityEvent[] {
  const events: IdentityEvent[] = [];
  for (const c of after.conditions ?? []) {
    const old = before?.conditions?.find((p) => p.type === c.type);
    const bad = BAD[c.type];
    if (c.status === bad && (old?.status !== bad || old.reason !== c.reason)) events.push({ type: 'Warning', reason: c.reason, message: c.message });
    else if (old?.status === bad && c.status !== bad && c.status !== 'Unknown') events.push({ type: 'Normal', reason: c.reason, message: c.message });
  }
  const was = before?.issuer?.fingerprintSHA256;
  if (was && after.issuer?.fingerprintSHA256 && was !== after.issuer.fingerprintSHA256) {
    events.push({ type: 'Normal', reason: 'IssuerRotated', message: `now signing with ${after.issuer.subject ?? ''} (${after.issuer.fingerprintSHA256}), was ${was}` });
  }
  return events;
}
