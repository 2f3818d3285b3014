// The serving certificate every webhook replica shares, and how it rotates
// without a failed admission. The state lives in one Secret that only the
// leader writes; every replica serves `current` from it, and the API server
// trusts the CAs of three generations at once:
//
//   previous  served until the last rotation; trusted until it expires, so a
//             replica that has not yet seen the rotation still passes
//   current   what every replica serves
//   next      made one rotation ahead and trusted from then on, so by the time
//             it is served every API server has long had it in its caBundle
//
// A generation is a fresh CA and a leaf it signed (the CA key is discarded
// once the leaf is signed: nothing else is ever signed with it). With a
// validity V, a rotation happens V/3 after `next` was made: each generation is
// trusted for V/3 before it serves, serves for V/3, and stays trusted for V/3
// after, expiring just as it leaves the bundle. No step waits on a timer for
// the API server to catch up; the ordering alone keeps every handshake valid.
import { X509Certificate, createPublicKey } from 'node:crypto';
import type { ServingCert } from './certs.ts';
import { SkeinError } from '../api/errors.ts';

/** The Secret's keys: `current` as a kubernetes.io/tls Secret spells it, the rest beside it. */
export const SECRET_KEYS = {
  cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt',
  nextCert: 'next-tls.crt', nextKey: 'next-tls.key', nextCa: 'next-ca.crt',
  previousCa: 'previous-ca.crt',
} as const;

export interface ServingState {
  current: ServingCert;
  next: ServingCert;
  /** The CA `current` replaced; absent before the first rotation. */
  previousCa?: string | undefined;
}

export type Step = 'keep' | 'rotate' | 'create';

const validTo = (pem: string) => new Date(new X509Certificate(pem).validTo).getTime();

/** When `next` should become `current`: a third of its validity after it was made (its CA is backdated a minute, its end is exact). */
export function rotationDue(state: ServingState, validityMs: number): number {
  return validTo(state.next.ca) - (2 * validityMs) / 3;
}

/**
 * What the leader does with the state it reads. `create` when there is none,
 * or when nothing in it can be served any more (the cluster was off for longer
 * than a validity): no handshake could pass with it anyway.
 */
export function nextStep(state: ServingState | undefined, now: number, validityMs: number): Step {
  if (!state) return 'create';
  if (validTo(state.current.cert) <= now || validTo(state.next.cert) <= now) return 'create';
  // A `next` made under a longer validity than the one configured now: rotate at once, so a
  // lowered setting takes effect within one rotation rather than when the old one was due.
  if (validTo(state.next.ca) > now + validityMs + 60_000) return 'rotate';
  return now >= rotationDue(state, validityMs) ? 'rotate' : 'keep';
}

/** The state after `step`; `generate` makes a fresh generation (CA and leaf). */
export async function advance(state: ServingState | undefined, step: Step, generate: () => Promise<ServingCert>): Promise<ServingState | undefined> {
  if (step === 'keep') return state;
  if (step === 'create' || !state) {
    const [current, next] = [await generate(), await generate()];
    return { current, next };
  }
  return { previousCa: state.current.ca, current: state.next, next: await generate() };
}

/** Each CA the API server must trust now, oldest first: what goes into every caBundle. */
export function caBundle(state: ServingState, now: number): string {
  const cas = [state.previousCa, state.current.ca, state.next.ca].filter((ca): ca is string => ca !== undefined && ca.trim() !== '');
  const live = cas.filter((ca) => validTo(ca) > now);
  return [...new Set(live.map((ca) => ca.trim()))].map((ca) => `${ca}\n`).join('');
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

/** The Secret's `data` (base64 values) for a state. */
export function toSecretData(state: ServingState): Record<string, string> {
  const k = SECRET_KEYS;
  return {
    [k.cert]: b64(state.current.cert), [k.key]: b64(state.current.key), [k.ca]: b64(state.current.ca),
    [k.nextCert]: b64(state.next.cert), [k.nextKey]: b64(state.next.key), [k.nextCa]: b64(state.next.ca),
    ...(state.previousCa ? { [k.previousCa]: b64(state.previousCa) } : {}),
  };
}

export class ServingStateInvalid extends SkeinError {
  readonly code = 'serving_secret_invalid';
}

/**
 * The state a Secret's `data` holds; undefined for an empty Secret, a
 * ServingStateInvalid naming what is wrong for one that cannot be served
 * (the leader then makes a fresh state rather than serve something broken).
 */
export function fromSecretData(data: Record<string, string> | undefined): ServingState | undefined {
  if (!data || Object.keys(data).length === 0) return undefined;
  const k = SECRET_KEYS;
  const read = (cert: string, key: string, ca: string): ServingCert => ({ cert: unb64(data[cert]), key: unb64(data[key]), ca: unb64(data[ca]) });
  const previousCa = unb64(data[k.previousCa]);
  const state: ServingState = { current: read(k.cert, k.key, k.ca), next: read(k.nextCert, k.nextKey, k.nextCa), ...(previousCa ? { previousCa } : {}) };
  for (const [name, g] of [['current', state.current], ['next', state.next]] as const) {
    if (!g.cert || !g.key || !g.ca) throw new ServingStateInvalid(`the ${name} generation lacks a certificate, key or CA`);
    let leaf: X509Certificate;
    let ca: X509Certificate;
    try {
      leaf = new X509Certificate(g.cert);
      ca = new X509Certificate(g.ca);
    } catch (err) {
      throw new ServingStateInvalid(`the ${name} generation holds something that is not a PEM certificate`, { cause: err });
    }
    if (!leaf.verify(ca.publicKey)) throw new ServingStateInvalid(`the ${name} certificate was not signed by the ${name} CA`);
    const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' }).toString('base64');
    let keyMatches: boolean;
    try { keyMatches = spki(createPublicKey(g.key)) === spki(leaf.publicKey); } catch { keyMatches = false; }
    if (!keyMatches) throw new ServingStateInvalid(`the ${name} key does not belong to the ${name} certificate`);
  }
  return state;
}
