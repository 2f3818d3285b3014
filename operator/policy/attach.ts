// A target's full snapshot: what resolution found, plus the Service's
// ServiceProfile and TrafficSplit compiled for the port that was called.
// Every lookup goes through the view, so the hub's index learns that this
// target depends on the profile, the splits rooted at the Service, the
// HTTPRouteGroups their matches name, and each backend's Service and slices.
import type { Update } from '../../api/discovery-protocol.ts';
import { parseServiceProfileSpec } from '../../api/crds/serviceprofile.ts';
import type { ClusterView } from '../discovery/cache.ts';
import { resolve, type ResolveConfig } from '../discovery/resolve.ts';
import type { Target } from '../discovery/target.ts';
import { compileDstOverrides, compileProfile, isOpaquePort, profileName } from './profile.ts';
import { compileSplit, type CompiledSplit } from './split.ts';
import { compileRoutes } from '../gateway/compile.ts';

export type PolicyConfig = ResolveConfig & { clusterDomain: string };

/** `clientNs`: the asking proxy's namespace, for consumer routes (operator/gateway/attach.ts). */
export function resolveWithPolicy(view: ClusterView, target: Target, cfg: PolicyConfig, clientNs?: string): Update {
  const base = resolve(view, target, cfg);
  if (!base.service) return base;
  const { name, namespace, port } = base.service;
  const svc = view.service(namespace, name);
  if (!svc) return base;
  // Gateway API routes on the Service win over its ServiceProfile's routes and
  // its TrafficSplit (Linkerd's rule; docs/gateway-api.md): only the profile's
  // opaque ports and retry budget still count.
  const routes = compileRoutes(view, svc, port, clientNs, cfg);
  const spName = profileName(name, namespace, cfg.clusterDomain);
  const sp = view.serviceProfile(namespace, spName);
  const parsed = sp ? parseServiceProfileSpec(sp.spec) : undefined;
  const spec = parsed?.ok ? parsed.spec : undefined;
  const profile = spec ? compileProfile(spName, spec) : undefined;
  // A TrafficSplit in effect wins over the profile's dstOverrides: it is the
  // object written for exactly this purpose (by a user, Flagger or Argo
  // Rollouts), while dstOverrides are what Linkerd's SMI adaptor derives from
  // one; honouring both would split twice. docs/traffic-split.md says the same.
  const overrides = spec ? compileDstOverrides(view, svc, port, spec.dstOverrides, cfg) : undefined;
  const split: CompiledSplit | undefined = compileSplit(view, svc, port, cfg) ?? (overrides ? { split: overrides } : undefined);
  const opaque = base.opaque || (spec !== undefined && isOpaquePort(spec, port));
  const endpoints = opaque && !base.opaque ? base.endpoints.map((e) => ({ ...e, protocolHint: 'opaque' as const })) : base.endpoints;
  if (routes) return { ...base, opaque, endpoints, routes, ...(profile ? { profile: { ...profile, routes: [] } } : {}) };
  return { ...base, opaque, endpoints, ...(profile ? { profile } : {}), ...(split ?? {}) };
}
