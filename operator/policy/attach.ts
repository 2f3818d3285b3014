// A target's full snapshot: what resolution found, plus the Service's
// ServiceProfile and TrafficSplit compiled for the port that was called.
// Every lookup goes through the view, so the hub's index learns that this
// target depends on the profile, the splits rooted at the Service and each
// backend's Service and slices.
import type { Update } from '../../shared/discovery-protocol.ts';
import type { ClusterView } from '../discovery/cache.ts';
import { resolve, type ResolveConfig } from '../discovery/resolve.ts';
import type { Target } from '../discovery/target.ts';
import { profileName, profileOf } from './profile.ts';
import { compileSplit } from './split.ts';

export type PolicyConfig = ResolveConfig & { clusterDomain: string };

export function resolveWithPolicy(view: ClusterView, target: Target, cfg: PolicyConfig): Update {
  const base = resolve(view, target, cfg);
  if (!base.service) return base;
  const { name, namespace, port } = base.service;
  const svc = view.service(namespace, name);
  if (!svc) return base;
  const spName = profileName(name, namespace, cfg.clusterDomain);
  const sp = view.serviceProfile(namespace, spName);
  const profile = sp ? profileOf(spName, sp.spec) : undefined;
  const split = compileSplit(view, svc, port, cfg);
  return { ...base, ...(profile ? { profile } : {}), ...(split ? { split } : {}) };
}
