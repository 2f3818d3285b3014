// Least privilege, proven against the real API server's RBAC: each component's
// ServiceAccount may do what CONTRACT below says and nothing more (no secrets
// beyond its issuer, no pods/exec, no wildcards), and with exactly those
// rights the components run a meshed workload without one 403 in their logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { containerLog, isReady, kubeConfig, kubectl, testNamespace, eventually } from '../support/kube.ts';
import { installSkein } from '../support/skein.ts';
import { IMAGES } from '../support/images.ts';

const NS = 'skein-system';

/** One permission: an API group, a resource, a verb, optionally one object name, in the namespaces it holds in ('*' = all). */
interface Grant { group: string; resource: string; verbs: readonly string[]; names?: readonly string[]; namespaces?: readonly string[] }

/** Its own leader-election Lease in skein-system: create cannot be narrowed by name, get and update are. */
function leaderElection(lease: string): Grant[] {
  return [
    { group: 'coordination.k8s.io', resource: 'leases', verbs: ['create'], namespaces: [NS] },
    { group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'update'], names: [lease], namespaces: [NS] },
  ];
}

/**
 * The documented contract: what each component may do. A rule the API server
 * reports beyond this fails the test (too broad); the log check below fails
 * when the rules are too narrow for what the component really does.
 */
export const CONTRACT: Record<string, readonly Grant[]> = {
  'skein-webhook': [
    { group: '', resource: 'namespaces', verbs: ['get', 'list', 'watch'] },
    { group: 'apps', resource: 'replicasets', verbs: ['get'] },
    { group: 'batch', resource: 'jobs', verbs: ['get'] },
    { group: '', resource: 'events', verbs: ['create'] },
    { group: '', resource: 'pods', verbs: ['list', 'watch'] },
    // The serving certificate every replica shares; only the Lease holder writes it (create cannot be narrowed by name).
    { group: '', resource: 'secrets', verbs: ['create'], namespaces: [NS] },
    { group: '', resource: 'secrets', verbs: ['get', 'list', 'watch', 'update'], names: ['skein-webhook-serving'], namespaces: [NS] },
    ...leaderElection('skein-webhook'),
    { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verbs: ['get', 'patch'], names: ['skein-webhook'] },
    { group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', verbs: ['get', 'patch'], names: ['skein-validate'] },
    { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['get', 'patch'], names: ['trafficsplits.split.smi-spec.io'] },
  ],
  'skein-identity': [
    { group: 'authentication.k8s.io', resource: 'tokenreviews', verbs: ['create'] },
    { group: 'skein.dev', resource: 'meshidentities', verbs: ['get', 'list', 'watch', 'create'] },
    { group: 'skein.dev', resource: 'meshidentities/status', verbs: ['patch'] },
    { group: '', resource: 'namespaces', verbs: ['get', 'list', 'watch'] },
    { group: '', resource: 'pods', verbs: ['get', 'list', 'watch'] },
    // The trust roots in every meshed namespace: RBAC cannot name one ConfigMap in all namespaces,
    // so ValidatingAdmissionPolicy skein-identity-configmaps does (the test below).
    { group: '', resource: 'configmaps', verbs: ['get', 'list', 'watch', 'create', 'patch'] },
    { group: '', resource: 'secrets', verbs: ['get', 'list', 'watch'], names: ['skein-issuer'], namespaces: [NS] },
    { group: '', resource: 'events', verbs: ['create', 'patch'], namespaces: ['default'] },
    ...leaderElection('skein-identity'),
  ],
  'skein-controller': [
    { group: '', resource: 'services', verbs: ['list', 'watch'] },
    { group: '', resource: 'pods', verbs: ['list', 'watch'] },
    { group: '', resource: 'namespaces', verbs: ['list', 'watch'] },
    { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'] },
    { group: '', resource: 'events', verbs: ['create', 'patch'] },
    { group: 'skein.dev', resource: 'serviceprofiles', verbs: ['get', 'list', 'watch'] },
    { group: 'skein.dev', resource: 'serviceprofiles/status', verbs: ['patch', 'update'] },
    { group: 'skein.dev', resource: 'authorizationpolicies', verbs: ['get', 'list', 'watch'] },
    { group: 'skein.dev', resource: 'authorizationpolicies/status', verbs: ['patch', 'update'] },
    { group: 'split.smi-spec.io', resource: 'trafficsplits', verbs: ['get', 'list', 'watch'] },
    { group: 'split.smi-spec.io', resource: 'trafficsplits/status', verbs: ['patch', 'update'] },
    { group: 'specs.smi-spec.io', resource: 'httproutegroups', verbs: ['get', 'list', 'watch'] },
    // Gateway API routes with a Service as parent (GAMMA): read by every replica, status.parents written by the leader.
    { group: 'gateway.networking.k8s.io', resource: 'httproutes', verbs: ['get', 'list', 'watch'] },
    { group: 'gateway.networking.k8s.io', resource: 'grpcroutes', verbs: ['get', 'list', 'watch'] },
    { group: 'gateway.networking.k8s.io', resource: 'httproutes/status', verbs: ['patch'] },
    { group: 'gateway.networking.k8s.io', resource: 'grpcroutes/status', verbs: ['patch'] },
    ...leaderElection('skein-controller'),
  ],
};

interface ResourceRule { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }
interface RulesReview { status: { resourceRules: ResourceRule[]; incomplete: boolean; evaluationError?: string } }

/** SelfSubjectRulesReview as the given user: every rule the API server's authorizer grants it in `namespace`. */
async function rulesOf(user: string, namespace: string, dir: string): Promise<RulesReview['status']> {
  const file = join(dir, 'review.json');
  writeFileSync(file, JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } }));
  return (JSON.parse(await kubectl('create', '--validate=false', '-f', file, '-o', 'json', `--as=${user}`)) as RulesReview).status;
}

/** Rules as flat "verb group/resource[/name]" strings, the unit the contract is checked in. */
function flatten(rules: readonly ResourceRule[]): Set<string> {
  return new Set(rules.flatMap((r) => (r.apiGroups ?? ['']).flatMap((g) => (r.resources ?? []).flatMap((res) => r.verbs.flatMap((v) =>
    (r.resourceNames?.length ? r.resourceNames : ['']).map((n) => `${v} ${g}/${res}${n ? `/${n}` : ''}`))))));
}

const allowedBy = (contract: readonly Grant[], namespace: string, permission: string): boolean => contract.some((g) => {
  if (g.namespaces && !g.namespaces.includes(namespace)) return false;
  const [verb, path] = permission.split(' ') as [string, string];
  return g.verbs.includes(verb) && (g.names ?? ['']).some((n) => path === `${g.group}/${g.resource}${n ? `/${n}` : ''}`);
});

test('each component\'s ServiceAccount can do what its contract says, nothing more, and needs all of it', async (t) => {
  await installSkein(t);
  const dir = mkdtempSync(join(tmpdir(), 'skein-rbac-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const workload = await testNamespace(t, 'rbac');
  // What any ServiceAccount may do (self reviews, discovery): the baseline every grant is measured above.
  const baseline = (ns: string) => rulesOf(`system:serviceaccount:${workload}:default`, ns, dir).then((s) => flatten(s.resourceRules));

  for (const [sa, contract] of Object.entries(CONTRACT)) {
    const user = `system:serviceaccount:${NS}:${sa}`;
    for (const namespace of [NS, 'default', workload]) {
      const status = await rulesOf(user, namespace, dir);
      assert.equal(status.incomplete, false, `${sa} in ${namespace}: ${status.evaluationError ?? ''}`);
      for (const r of status.resourceRules) {
        for (const field of ['verbs', 'apiGroups', 'resources'] as const) assert.ok(!(r[field] ?? []).includes('*'), `${sa} has a wildcard in ${field}: ${JSON.stringify(r)}`);
      }
      const base = await baseline(namespace);
      const beyond = [...flatten(status.resourceRules)].filter((p) => !base.has(p) && !allowedBy(contract, namespace, p));
      assert.deepEqual(beyond, [], `${sa} may do more than its contract in ${namespace}`);
    }
    // Belt and braces: the API server's own answer to what must never be allowed.
    for (const forbidden of [['get', 'secrets', '-A'], ['list', 'secrets', '-n', NS], ['create', 'pods/exec', '-n', workload], ['*', '*', '-A'], ['create', 'clusterrolebindings'], ['escalate', 'clusterroles'], ['impersonate', 'serviceaccounts', '-A']]) {
      const answer = await kubectl('auth', 'can-i', ...forbidden, `--as=${user}`).catch((err: { stdout?: string }) => err.stdout ?? '');
      assert.equal(answer.trim(), 'no', `${sa} can ${forbidden.join(' ')}`);
    }
  }

  // Sufficiency: a meshed pod makes every component use its rights (inject, certify with a TokenReview, write trust roots, discovery).
  const core = kubeConfig().makeApiClient(CoreV1Api);
  await kubectl('annotate', 'namespace', workload, 'skein.dev/inject=enabled');
  await core.createNamespacedPod({ namespace: workload, body: { metadata: { name: 'meshed' }, spec: { containers: [{ name: 'echo', image: IMAGES.echo, ports: [{ containerPort: 8080 }] }] } } });
  await eventually('the meshed pod to be ready', async () => (isReady(await core.readNamespacedPod({ name: 'meshed', namespace: workload })) ? true : undefined), 180_000);
  const pods = (await core.listNamespacedPod({ namespace: NS })).items;
  for (const pod of pods) {
    for (const c of pod.spec?.containers ?? []) {
      const log = await containerLog(NS, pod.metadata?.name ?? '', c.name);
      // A write into a namespace being deleted is refused with 403 too (NamespaceTerminating): not a missing right.
      const denied = log.split('\n').filter((l) => /forbidden|\b403\b/i.test(l) && !l.includes('NamespaceTerminating'));
      assert.deepEqual(denied, [], `${pod.metadata?.name}/${c.name} was refused by the API server`);
    }
  }
});

test('skein-identity may write ConfigMap skein-trust-roots and no other: the API server refuses the rest (ValidatingAdmissionPolicy)', async (t) => {
  await installSkein(t);
  const identity = `--as=system:serviceaccount:${NS}:skein-identity`;
  const workload = await testNamespace(t, 'vap');
  const dir = mkdtempSync(join(tmpdir(), 'skein-vap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configMap = (namespace: string, name: string) => {
    const file = join(dir, `${namespace}-${name}.json`);
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { 'ca-bundle.crt': 'x' } }));
    return file;
  };
  const write = (...args: string[]) => kubectl(...args, identity).then((out) => ({ ok: true, out }), (err: { stderr?: string }) => ({ ok: false, out: err.stderr ?? '' }));
  // RBAC alone would allow all of these: the grant is on every ConfigMap in every namespace.
  assert.equal((await kubectl('auth', 'can-i', 'create', 'configmaps', '-n', 'kube-system', identity)).trim(), 'yes');
  // The policy takes a moment to reach the API server's admission chain after it is created.
  const refused = await eventually('the write of kube-system/aws-auth refused', async () => {
    const r = await write('create', '-f', configMap('kube-system', 'aws-auth'));
    return r.ok ? (await kubectl('-n', 'kube-system', 'delete', 'configmap', 'aws-auth'), undefined) : r;
  }, 30_000);
  assert.match(refused.out, /skein-identity may write only ConfigMaps named skein-trust-roots, not kube-system\/aws-auth/);
  assert.match((await write('create', '-f', configMap(workload, 'other'))).out, /not .*\/other/);
  assert.match((await write('apply', '--server-side', '--field-manager=skein-identity', '-f', configMap(workload, 'other'))).out, /may write only ConfigMaps named skein-trust-roots/);
  const allowed = await write('apply', '--server-side', '--field-manager=skein-identity', '-f', configMap(workload, 'skein-trust-roots'));
  assert.ok(allowed.ok, `skein-trust-roots is still written: ${allowed.out}`);
  // Anyone else is untouched by the policy.
  assert.ok((await kubectl('-n', workload, 'create', 'configmap', 'other', '--from-literal=a=b').then(() => true)), 'the admin writes any ConfigMap');
});
