// /validate against the real API server, the way a user meets it: Skein
// installed from crds/ and manifests/base, objects written as YAML files and
// sent with `kubectl apply`. Invalid ServiceProfiles, AuthorizationPolicies,
// TrafficSplits and MeshIdentities are refused with the message that says
// what to fix; sound ones, and a Linkerd profile with only its apiVersion
// changed, are accepted; `kubectl get` shows the printer columns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { kubectl, eventually, testNamespace } from '../support/kube.ts';
import { installSkein, REPO } from '../support/skein.ts';

const LINKERD_PROFILE = join(REPO, 'api/crds/testdata/linkerd-serviceprofile.yaml');

test('kubectl apply of invalid Skein objects is refused with what to fix; sound ones and a converted Linkerd profile are accepted', async (t) => {
  await installSkein(t);
  for (const crd of ['serviceprofiles.skein.dev', 'authorizationpolicies.skein.dev', 'trafficsplits.split.smi-spec.io', 'meshidentities.skein.dev']) {
    await kubectl('wait', '--for=condition=Established', `crd/${crd}`, '--timeout=60s');
  }
  const ns = await testNamespace(t, 'e2e-validate');
  const dir = mkdtempSync(join(tmpdir(), 'skein-validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const file = (obj: object | string): string => {
    const path = join(dir, `object-${files++}.yaml`);
    writeFileSync(path, typeof obj === 'string' ? obj : stringify(obj));
    return path;
  };
  const apply = (obj: object | string, ...flags: string[]) => kubectl('apply', '-n', ns, ...flags, '-f', file(obj));
  /** The refusal kubectl prints, or undefined when the object was admitted. */
  const refusal = async (obj: object | string, ...flags: string[]): Promise<string | undefined> => {
    try {
      await apply(obj, ...flags);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };

  const profile = (name: string, spec: object) => ({ apiVersion: 'skein.dev/v1alpha1', kind: 'ServiceProfile', metadata: { name }, spec });
  const booksFqdn = `books.${ns}.svc.cluster.local`;
  const badRegex = profile(booksFqdn, { routes: [{ name: 'GET /books/{id}', condition: { method: 'GET', pathRegex: '/books/(' } }] });

  // failurePolicy is Ignore, so until the webhook answers (and its caBundle is
  // in place) objects pass on their schema alone: probe with a server dry run,
  // which creates nothing either way.
  const first = await eventually('the validating webhook answers', async () => {
    const message = await refusal(badRegex, '--dry-run=server');
    return message && /validate\.skein\.dev/.test(message) ? message : undefined;
  }, 120_000);
  assert.match(first, /denied the request: ServiceProfile books\..* is invalid: spec\.routes\[0\]\.condition\.pathRegex: pathRegex "\/books\/\(": it does not compile as a JavaScript RegExp/);

  // Each refused for real, with its message.
  assert.match(await refusal(badRegex) ?? 'admitted', /spec\.routes\[0\]\.condition\.pathRegex: .*Unterminated group/);
  const route = { name: 'GET /books', condition: { method: 'GET', pathRegex: '/books' } };
  assert.match(await refusal(profile(booksFqdn, { routes: [route, { ...route, isRetryable: true }] })) ?? 'admitted',
    /spec\.routes\[1\]\.name: route name "GET \/books" is already used by routes\[0\]/);
  assert.match(await refusal(profile(booksFqdn, { routes: [{ name: 'slow', condition: { not: { pathRegex: '(a+)+' } } }] })) ?? 'admitted',
    /spec\.routes\[0\]\.condition\.not\.pathRegex: .*repeats a group that itself repeats/, 'the nested levels the CRD keeps as written are checked too');
  assert.match(await refusal(profile('books', {})) ?? 'admitted', /metadata\.name: "books" is not a Service FQDN; .*e\.g\. books\.shop\.svc\.cluster\.local/);

  const policy = (name: string, spec: object) => ({ apiVersion: 'skein.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name }, spec });
  assert.match(await refusal(policy('nobody', { target: { service: 'books', port: 8080 }, allow: { meshTLS: false } })) ?? 'admitted',
    /AuthorizationPolicy nobody is invalid: spec\.allow: the policy names no one/);
  assert.match(await refusal(policy('both', { target: { service: 'books', podSelector: { matchLabels: { app: 'books' } }, port: 'http' }, allow: { meshTLS: true } })) ?? 'admitted',
    /spec\.target: name either service or podSelector, not both/);
  assert.match(await refusal(policy('probes', { target: { service: 'books', port: 8080 }, allow: { unauthenticated: { networks: ['10.0.0.0/33'] } } })) ?? 'admitted',
    /spec\.allow\.unauthenticated\.networks\[0\]: "10\.0\.0\.0\/33" is not a CIDR/);

  // Flagger's v1alpha1 shape; the API server converts it to v1alpha4 before asking.
  const split = (name: string, weights: [string, string]) => ({
    apiVersion: 'split.smi-spec.io/v1alpha1', kind: 'TrafficSplit', metadata: { name },
    spec: { service: 'books', backends: [{ service: 'books-v1', weight: weights[0] }, { service: 'books-v2', weight: weights[1] }] },
  });
  assert.match(await refusal(split('zero', ['0', '0'])) ?? 'admitted', /TrafficSplit zero is invalid: spec\.backends: the weights sum to zero/);

  // MeshIdentity is cluster-scoped and shared: a server dry run goes through admission and writes nothing.
  const meshIdentity = { apiVersion: 'skein.dev/v1alpha1', kind: 'MeshIdentity', metadata: { name: `${ns}-probe` }, spec: { leafLifetime: '1m' } };
  const miRefusal = await (async () => {
    try {
      await kubectl('apply', '--dry-run=server', '-f', file(meshIdentity));
      return 'admitted';
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  })();
  assert.match(miRefusal, /spec\.leafLifetime: leafLifetime must be between 10m and 720h/);

  // Sound objects are accepted.
  await apply(profile(booksFqdn, {
    routes: [
      { name: 'GET /books/{id}', condition: { all: [{ method: 'GET' }, { pathRegex: '/books/[^/]+' }] }, isRetryable: true, timeout: '300ms', responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }] },
      { name: 'POST /books', condition: { method: 'POST', pathRegex: '/books' }, timeout: '2s' },
    ],
    retryBudget: { retryRatio: 0.3 },
  }));
  await apply(policy('readers', { target: { service: 'books', port: 8080 }, allow: { serviceAccounts: [{ name: 'web' }], namespaces: ['ops'], unauthenticated: { networks: ['10.0.0.0/8'] } } }));
  await apply(split('canary', ['900m', '100m']));
  const stored = JSON.parse(await kubectl('-n', ns, 'get', 'serviceprofile', booksFqdn, '-o', 'json')) as { spec: { retryBudget: Record<string, unknown> } };
  assert.deepEqual(stored.spec.retryBudget, { retryRatio: 0.3, minRetriesPerSecond: 10, ttl: '10s' }, 'the API server fills in the budget defaults');

  // A Linkerd profile: only apiVersion changes (the namespace line is where this test installs it).
  const linkerd = readFileSync(LINKERD_PROFILE, 'utf8')
    .replace('apiVersion: linkerd.io/v1alpha2', 'apiVersion: skein.dev/v1alpha1')
    .replace('namespace: booksapp', `namespace: ${ns}`);
  await apply(linkerd);
  const converted = JSON.parse(await kubectl('-n', ns, 'get', 'serviceprofile', 'webapp.booksapp.svc.cluster.local', '-o', 'json')) as { spec: { routes: { name: string; condition: Record<string, unknown> }[]; dstOverrides: unknown[] } };
  assert.deepEqual(converted.spec.routes.map((r) => r.name), ['GET /', 'POST /authors', 'GET /authors/{id}', 'GET /books/{id}.json']);
  assert.deepEqual(converted.spec.routes[3]?.condition.all, [{ method: 'GET' }, { pathRegex: '/books/[^/]*\\.json' }, { not: { pathRegex: '/books/private/.*' } }, { any: [{ method: 'GET' }, { method: 'HEAD' }] }],
    'nested conditions are stored as written, not pruned');
  assert.equal(converted.spec.dstOverrides.length, 2);

  // The printer columns.
  const table = await kubectl('-n', ns, 'get', 'serviceprofiles');
  const [header, ...rows] = table.trim().split('\n');
  assert.match(header ?? '', /^NAME\s+RETRY RATIO\s+ACCEPTED\s+RESOLVED\s+AGE$/);
  assert.ok(rows.some((r) => r.startsWith(booksFqdn) && /\s0\.3\s/.test(r)), table);
  assert.match(await kubectl('-n', ns, 'get', 'authorizationpolicies'), /^NAME\s+SERVICE\s+PORT\s+ACCEPTED\s+RESOLVED\s+AGE\nreaders\s+books\s+8080\s/);
  assert.match(await kubectl('-n', ns, 'get', 'trafficsplits.split.smi-spec.io'), /^NAME\s+SERVICE\s+ACCEPTED\s+RESOLVED\s+AGE\ncanary\s+books\s/);
});
