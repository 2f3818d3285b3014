// One trust domain everywhere: a control plane whose parts disagree on it
// fails quietly (skein-identity refuses the controller's token, proxies
// refuse each other's names), so `check` compares every place that spells it.
import type { V1Deployment } from '@kubernetes/client-node';
import { identityAudience } from '../../api/mesh-names.ts';
import type { CheckResult } from './checks.ts';

const CLAIM = 'the control plane agrees on one trust domain';

/** Where each Deployment spells the trust domain: its containers' SKEIN_TRUST_DOMAIN and its identity tokens' audiences. */
function spellings(d: V1Deployment): string[] {
  const name = d.metadata?.name ?? '';
  const pod = d.spec?.template.spec;
  const env = (pod?.containers ?? []).flatMap((c) => (c.env ?? []).filter((e) => e.name === 'SKEIN_TRUST_DOMAIN').map((e) => `${name} SKEIN_TRUST_DOMAIN=${e.value ?? ''}`));
  const audiences = (pod?.volumes ?? []).flatMap((v) => v.projected?.sources ?? []).map((s) => s.serviceAccountToken?.audience)
    .filter((a): a is string => a?.startsWith('identity.') ?? false).map((a) => `${name} token audience ${a}`);
  return [...env, ...audiences];
}

/**
 * `meshIdentityTrustDomain`: MeshIdentity default's spec.trustDomain, the one
 * skein-identity signs for (undefined when it is not there yet).
 */
export function checkTrustDomain(deployments: readonly V1Deployment[], meshIdentityTrustDomain: string | undefined): CheckResult {
  const expected = meshIdentityTrustDomain ?? deployments.flatMap((d) => d.spec?.template.spec?.containers ?? [])
    .flatMap((c) => c.env ?? []).find((e) => e.name === 'SKEIN_TRUST_DOMAIN')?.value ?? 'cluster.local';
  const wrong = deployments.flatMap(spellings).filter((s) => !(s.endsWith(`SKEIN_TRUST_DOMAIN=${expected}`) || s.endsWith(`token audience ${identityAudience(expected)}`)));
  if (wrong.length === 0) return { category: 'identity', name: CLAIM, ok: true, detail: expected };
  return {
    category: 'identity', name: CLAIM, ok: false,
    detail: `MeshIdentity default says ${expected}; ${wrong.join(', ')}`,
    hint: `install again with \`kubectl skein install --trust-domain ${expected}\`, which sets every one of them (or set MeshIdentity default's spec.trustDomain to what the control plane uses)`,
  };
}
