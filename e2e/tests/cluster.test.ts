// The local control plane behaves like a real cluster: its controllers act,
// tokens are minted and reviewed, CRDs are served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CoreV1Api, AppsV1Api, AuthenticationV1Api, ApiextensionsV1Api, CustomObjectsApi, DiscoveryV1Api, VersionApi,
} from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, isNotFound, deployment } from '../support/kube.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

test('the API server reports the version it was built as', async () => {
  const v = await kc.makeApiClient(VersionApi).getCode();
  assert.equal(v.gitVersion, 'v1.35.4');
  assert.equal(v.minor, '35');
});

test('a new namespace gets its default ServiceAccount and root CA ConfigMap', async (t) => {
  const ns = await testNamespace(t);
  const sa = await eventually('default ServiceAccount', async () => core.readNamespacedServiceAccount({ name: 'default', namespace: ns }));
  assert.equal(sa.metadata?.namespace, ns);
  const cm = await eventually('kube-root-ca.crt', async () => core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: ns }));
  assert.match(cm.data?.['ca.crt'] ?? '', /BEGIN CERTIFICATE/);
});

test('a Deployment gets a ReplicaSet and Pods from the real controllers', async (t) => {
  const ns = await testNamespace(t);
  await apps.createNamespacedDeployment({ namespace: ns, body: deployment('echo', 2, { containers: [{ name: 'echo', image: IMAGES.echo }] }) });
  const pods = await eventually('2 pods', async () => {
    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo' });
    return list.items.length === 2 ? list.items : undefined;
  });
  const rsName = pods[0]?.metadata?.ownerReferences?.[0]?.name;
  assert.ok(rsName, 'pods are owned by a ReplicaSet');
  assert.equal(pods[0]?.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet');
  const rs = await apps.readNamespacedReplicaSet({ name: rsName, namespace: ns });
  assert.equal(rs.metadata?.ownerReferences?.[0]?.kind, 'Deployment');
  assert.equal(rs.metadata?.ownerReferences?.[0]?.name, 'echo');

  // Garbage collection: deleting the Deployment takes its ReplicaSet and Pods with it.
  await apps.deleteNamespacedDeployment({ name: 'echo', namespace: ns, body: { propagationPolicy: 'Background' } });
  await eventually('ReplicaSet collected', async () => {
    try { await apps.readNamespacedReplicaSet({ name: rsName, namespace: ns }); return undefined; } catch (err) { return isNotFound(err) ? true : undefined; }
  });
});

test('a Service gets an EndpointSlice from the endpointslice controller', async (t) => {
  const ns = await testNamespace(t);
  await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 'books' }, spec: { selector: { app: 'books' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  });
  const svc = await core.readNamespacedService({ name: 'books', namespace: ns });
  assert.match(svc.spec?.clusterIP ?? '', /^198\.19\./, 'ClusterIP comes from the Service range');
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const slice = await eventually('an EndpointSlice for books', async () => {
    const list = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=books' });
    return list.items[0];
  });
  assert.equal(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  assert.equal(slice.addressType, 'IPv4');
});

test('TokenRequest mints an audience-bound token that TokenReview accepts only for that audience', async (t) => {
  const ns = await testNamespace(t);
  const audience = 'identity.skein-system.cluster.local';
  const tr = await core.createNamespacedServiceAccountToken({
    name: 'default', namespace: ns,
    body: { spec: { audiences: [audience], expirationSeconds: 600 } },
  });
  const token = tr.status?.token;
  assert.ok(token, 'a token was issued');
  const expiresIn = (new Date(tr.status?.expirationTimestamp ?? 0).getTime() - Date.now()) / 1000;
  assert.ok(expiresIn > 500 && expiresIn <= 600, `token expires in ~600s (got ${expiresIn})`);

  const authn = kc.makeApiClient(AuthenticationV1Api);
  const review = async (tok: string, audiences: string[]) =>
    (await authn.createTokenReview({ body: { spec: { token: tok, audiences } } })).status;

  const ok = await review(token, [audience]);
  assert.equal(ok?.authenticated, true);
  assert.equal(ok?.user?.username, `system:serviceaccount:${ns}:default`);
  assert.deepEqual(ok?.audiences, [audience]);

  const wrongAudience = await review(token, ['https://kubernetes.default.svc.cluster.local']);
  assert.notEqual(wrongAudience?.authenticated, true, 'a token is refused for an audience it was not minted for');

  const garbage = await review('not-a-jwt', [audience]);
  assert.notEqual(garbage?.authenticated, true);
});

test('a CRD is established and its objects are served', async (t) => {
  const ns = await testNamespace(t);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const group = `e2e-${ns}.skein.dev`;
  const name = `widgets.${group}`;
  await ext.createCustomResourceDefinition({
    body: {
      metadata: { name },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{
          name: 'v1', served: true, storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } } } } },
        }],
      },
    },
  });
  t.after(async () => { await ext.deleteCustomResourceDefinition({ name }); });
  await eventually('CRD Established', async () => {
    const crd = await ext.readCustomResourceDefinition({ name });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
  const custom = kc.makeApiClient(CustomObjectsApi);
  const obj = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
  await eventually('create accepted', async () => (await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: obj })) as object);
  const list = await custom.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets' }) as { items: { spec: { size: number } }[] };
  assert.equal(list.items.length, 1);
  assert.equal(list.items[0]?.spec.size, 3);

  // The schema is enforced by the real API server.
  await assert.rejects(
    custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: { ...obj, metadata: { name: 'bad' }, spec: { size: 0 } } }),
    (err: Error) => /should be greater than or equal to 1|must be greater than or equal to 1/.test(err.message),
  );
});

test('deleting a namespace completes (namespace controller)', async () => {
  const name = `e2e-del-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedConfigMap({ namespace: name, body: { metadata: { name: 'x' }, data: { a: 'b' } } });
  await core.deleteNamespace({ name });
  await eventually('namespace gone', async () => {
    try { await core.readNamespace({ name }); return undefined; } catch (err) { return isNotFound(err) ? true : undefined; }
  }, 90_000);
});
