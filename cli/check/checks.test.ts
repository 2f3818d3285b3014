import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod, V1CustomResourceDefinition, V1CustomResourceDefinitionSpec } from '@kubernetes/client-node';
import { createCa, createIntermediateCa, toPemPair } from '../../shared/tls.ts';
import { checkVersion, checkCrd, checkDeployment, checkInjection, checkTrustAnchors, checkIssuer, checkProxies, checkPermissions, checkNoExistingInstall, checkUnmeshedPods, checkPodSecurity, proxyVersion, checkNamespaceProxies, checkGatewayApiCrds } from './checks.ts';
import { formatLine, outcome } from './format.ts';

const DAY = 86_400_000;

test('versions: 1.29 and later pass, older fail with what to do', () => {
  assert.equal(checkVersion('v1.35.4').ok, true);
  assert.equal(checkVersion('v1.29.0').ok, true);
  assert.equal(checkVersion('v2.0.0').ok, true);
  const old = checkVersion('v1.28.9');
  assert.equal(old.ok, false);
  assert.match(old.hint ?? '', /upgrade/);
});

test('a CRD must exist and be Established', () => {
  assert.equal(checkCrd('x.skein.dev', undefined).ok, false);
  const spec: V1CustomResourceDefinitionSpec = { group: 'g', names: { kind: 'X', plural: 'x' }, scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: true }] };
  assert.equal(checkCrd('x.skein.dev', { spec, status: { conditions: [{ type: 'Established', status: 'False', message: 'pending' }] } }).ok, false);
  const ok = checkCrd('x.skein.dev', { spec, status: { conditions: [{ type: 'Established', status: 'True' }] } });
  assert.deepEqual([ok.ok, ok.detail], [true, 'served: v1']);
});

test('a Deployment: missing, scaled to 0, not ready, ready', () => {
  const missing = checkDeployment('skein-controller', undefined);
  assert.equal(missing.ok, false);
  assert.match(missing.hint ?? '', /kubectl skein install/);
  assert.match(checkDeployment('skein-webhook', { spec: { replicas: 0 } } as never).detail ?? '', /scaled to 0/);
  assert.equal(checkDeployment('skein-webhook', { spec: { replicas: 2 }, status: { readyReplicas: 1, updatedReplicas: 2 } } as never).ok, false);
  assert.equal(checkDeployment('skein-webhook', { spec: { replicas: 2 }, status: { readyReplicas: 2, updatedReplicas: 2 } } as never).ok, true);
});

test('the dry-run pod must come back with the proxy', () => {
  const injected: V1Pod = { spec: { containers: [{ name: 'probe' }], initContainers: [{ name: 'skein-init' }, { name: 'skein-proxy' }] } };
  assert.equal(checkInjection(injected).ok, true);
  const bare = checkInjection({ spec: { containers: [{ name: 'probe' }] } });
  assert.equal(bare.ok, false);
  assert.match(bare.detail ?? '', /without the proxy/);
  assert.match(checkInjection({ metadata: { annotations: { 'skein.dev/injection': 'skipped', 'skein.dev/injection-reason': 'not_enabled' } }, spec: { containers: [] } }).detail ?? '', /not_enabled/);
  assert.match(checkInjection(new Error('connection refused')).detail ?? '', /refused/);
  assert.match(formatLine(bare), /^× .*\n {4}hint: /);
});

test('trust anchors and issuer: valid, expiring within the margin, not signed by the anchors', async () => {
  const now = new Date();
  const anchor = await createCa({ commonName: 'anchor', validForMs: 365 * DAY, pathLength: 1 });
  const shortAnchor = await createCa({ commonName: 'short', validForMs: 10 * DAY, pathLength: 1 });
  const anchorPem = anchor.cert.toString('pem');
  assert.equal(checkTrustAnchors(anchorPem, now).ok, true);
  assert.equal(checkTrustAnchors(undefined, now).ok, false);
  const short = checkTrustAnchors(`${anchorPem}\n${shortAnchor.cert.toString('pem')}`, now);
  assert.deepEqual([short.ok, /CN=short expires/.test(short.detail ?? '')], [false, true]);

  const secretOf = async (days: number, annotations?: Record<string, string>) => {
    const p = await toPemPair(await createIntermediateCa(anchor, { commonName: 'issuer', validForMs: days * DAY }));
    return { metadata: { ...(annotations ? { annotations } : {}) }, data: { 'tls.crt': Buffer.from(p.certPem).toString('base64'), 'tls.key': Buffer.from(p.keyPem).toString('base64') } };
  };
  assert.equal((await checkIssuer(await secretOf(90), anchorPem, now)).ok, true);
  const expiring = await checkIssuer(await secretOf(5), anchorPem, now);
  assert.deepEqual([expiring.ok, /4 days left|5 days left/.test(expiring.detail ?? '')], [false, true]);
  assert.equal((await checkIssuer(await secretOf(2, { 'cert-manager.io/certificate-name': 'skein-issuer' }), anchorPem, now)).ok, true, 'cert-manager renews short issuers');
  const stranger = await checkIssuer(await secretOf(90), shortAnchor.cert.toString('pem'), now);
  assert.match(stranger.detail ?? '', /not signed by any current trust anchor/);
  assert.equal((await checkIssuer(undefined, anchorPem, now)).ok, false);
});

test('proxies: ready and at the CLI version, by annotation or image tag; finished pods do not count', () => {
  const pod = (name: string, image: string, ready: boolean, extra: Partial<V1Pod> = {}): V1Pod => ({
    metadata: { name, namespace: 'shop' },
    spec: { containers: [{ name: 'app' }], initContainers: [{ name: 'skein-proxy', image }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    ...extra,
  });
  assert.equal(proxyVersion(pod('a', 'registry:5000/skein/proxy:v0.1.0', true)), 'v0.1.0');
  assert.equal(proxyVersion(pod('a', 'skein.dev/proxy:v0.1.0', true, { metadata: { annotations: { 'skein.dev/proxy-version': 'v0.2.0' } } })), 'v0.2.0');
  assert.deepEqual(checkProxies([pod('a', 'skein.dev/proxy:v0.1.0', true)], 'v0.1.0').map((r) => r.ok), [true, true]);
  const [ready, current] = checkProxies([pod('a', 'skein.dev/proxy:v0.0.9', false), pod('b', 'skein.dev/proxy:v0.1.0', true)], 'v0.1.0');
  assert.deepEqual([ready?.ok, ready?.detail], [false, 'not ready: shop/a']);
  assert.deepEqual([current?.ok, current?.detail], [false, 'other versions: shop/a (v0.0.9)']);
  const done = pod('c', 'skein.dev/proxy:v0.0.1', false, { status: { phase: 'Succeeded' } });
  assert.deepEqual(checkProxies([done], 'v0.1.0').map((r) => r.ok), [true, true]);
});

test('pre-install: permissions and an existing install', () => {
  assert.equal(checkPermissions([]).ok, true);
  assert.match(checkPermissions(['clusterroles.rbac.authorization.k8s.io']).detail ?? '', /clusterroles/);
  assert.equal(checkNoExistingInstall([]).ok, true);
  assert.match(checkNoExistingInstall(['Namespace skein-system']).hint ?? '', /uninstall/);
});

test('un-meshed pods: a pod the webhook never saw in a meshed namespace fails the check, by name; opt-outs and other namespaces do not', () => {
  const namespaces = [{ metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled' } } }, { metadata: { name: 'plain' } }];
  const pod = (namespace: string, name: string, annotations: Record<string, string> = {}): V1Pod =>
    ({ metadata: { namespace, name, annotations }, spec: { containers: [{ name: 'app' }] }, status: { phase: 'Running' } });
  const seen = [pod('shop', 'injected', { 'skein.dev/injection': 'injected' }), pod('shop', 'optout', { 'skein.dev/inject': 'disabled' }), pod('plain', 'bystander')];
  const green = checkUnmeshedPods(namespaces, seen);
  assert.deepEqual([green.ok, green.detail], [true, '1 meshed namespace(s)']);
  const missed = checkUnmeshedPods(namespaces, [...seen, pod('shop', 'while-down')]);
  assert.deepEqual([missed.ok, missed.detail], [false, 'running un-meshed: shop/while-down']);
  assert.match(missed.hint ?? '', /rollout restart/);
  assert.match(formatLine(missed), /×.*pods in meshed namespaces run with the proxy/);
});

test('check warns about meshed namespaces whose Pod Security level refuses skein-init', () => {
  const ns = (name: string, labels: Record<string, string>, inject = 'enabled') => ({ metadata: { name, annotations: { 'skein.dev/inject': inject }, labels } });
  assert.equal(checkPodSecurity([ns('shop', { 'pod-security.kubernetes.io/enforce': 'privileged' }), ns('web', { 'pod-security.kubernetes.io/enforce': 'restricted' }, 'disabled')]).ok, true);
  const r = checkPodSecurity([ns('shop', { 'pod-security.kubernetes.io/enforce': 'baseline' }), ns('pay', { 'pod-security.kubernetes.io/enforce': 'restricted' })]);
  assert.equal(r.ok, false);
  assert.match(r.detail ?? '', /shop \(baseline\).*pay \(restricted\)/);
  assert.match(r.hint ?? '', /pod-security\.kubernetes\.io\/enforce=privileged/);
});

test('close to expiry is a warning (‼), expired is an error (×): the mesh works until the date', async () => {
  const now = new Date();
  const anchor = await createCa({ commonName: 'soon', validForMs: 10 * DAY, pathLength: 1 });
  const soon = checkTrustAnchors(anchor.cert.toString('pem'), now);
  assert.deepEqual([soon.ok, soon.warning, outcome(soon)], [false, true, 'warning']);
  assert.match(formatLine(soon), /^‼ trust anchors are valid for at least 30 days \(CN=soon expires on .*\)\n {4}hint: rotate/);
  const expired = checkTrustAnchors(anchor.cert.toString('pem'), new Date(now.getTime() + 11 * DAY));
  assert.deepEqual([expired.ok, outcome(expired)], [false, 'error']);
  assert.match(expired.detail ?? '', /expired on/);
});

test('--proxy: per namespace, proxies up, /ready (certificate), trust roots matching the anchors, versions (a warning)', async () => {
  const anchor = (await createCa({ commonName: 'a', validForMs: 365 * DAY, pathLength: 1 })).cert.toString('pem');
  const other = (await createCa({ commonName: 'b', validForMs: 365 * DAY, pathLength: 1 })).cert.toString('pem');
  const pod = (name: string, ready: boolean, tag = 'v0.1.0'): V1Pod => ({
    metadata: { name, namespace: 'shop' },
    spec: { containers: [{ name: 'app' }], initContainers: [{ name: 'skein-proxy', image: `ghcr.io/skein-dev/proxy:${tag}` }] },
    status: { phase: 'Running', initContainerStatuses: [{ name: 'skein-proxy', ready, image: '', imageID: '', restartCount: 0 }] },
  });
  const green = checkNamespaceProxies({ namespace: 'shop', pods: [pod('a', true)], notReady: new Map(), trustRoots: anchor }, anchor, 'v0.1.0');
  assert.deepEqual(green.map(outcome), ['success', 'success', 'success', 'success']);
  assert.deepEqual(green.map((r) => r.category), Array(4).fill('data-plane/shop'));
  const red = checkNamespaceProxies({ namespace: 'shop', pods: [pod('a', false), pod('b', true, 'v0.0.9')], notReady: new Map([['a', 'identity: no valid certificate yet']]), trustRoots: other }, anchor, 'v0.1.0');
  assert.deepEqual(red.map(outcome), ['error', 'error', 'error', 'warning']);
  assert.equal(red[0]?.detail, 'not ready: shop/a');
  assert.equal(red[1]?.detail, 'not ready: shop/a (identity: no valid certificate yet)');
  assert.match(red[2]?.detail ?? '', /holds 1 certificate\(s\), 0 of the 1 current anchor/);
  assert.equal(red[3]?.detail, 'other versions: shop/b (v0.0.9)');
  const missing = checkNamespaceProxies({ namespace: 'shop', pods: [], notReady: new Map(), trustRoots: undefined }, anchor, 'v0.1.0');
  assert.match(missing[2]?.detail ?? '', /skein-trust-roots not found/);
});

test('Gateway API CRDs: which release is present; absent or without v1 is a warning naming the install flag', () => {
  const crd = (version: string, served = true) => ({
    metadata: { annotations: { 'gateway.networking.k8s.io/bundle-version': version, 'gateway.networking.k8s.io/channel': 'standard' } },
    spec: { group: 'gateway.networking.k8s.io', names: { plural: 'x', kind: 'X' }, scope: 'Namespaced', versions: [{ name: 'v1', served, storage: true }] },
  }) as unknown as V1CustomResourceDefinition;
  const ok = checkGatewayApiCrds({ httproutes: crd('v1.7.0'), grpcroutes: crd('v1.7.0') }, 'v1.7.0');
  assert.equal(ok.ok, true);
  assert.equal(ok.detail, 'present: v1.7.0 (standard channel); Skein is tested with v1.7.0 (standard channel)');
  const none = checkGatewayApiCrds({ httproutes: undefined, grpcroutes: crd('v1.6.3') }, 'v1.7.0');
  assert.equal(none.ok, false);
  assert.equal(none.warning, true);
  assert.match(none.hint ?? '', /--gateway-api-crds=install/);
  assert.match(none.detail ?? '', /not found: httproutes\.gateway\.networking\.k8s\.io/);
  assert.equal(checkGatewayApiCrds({ httproutes: crd('v1.0.0', false), grpcroutes: crd('v1.0.0', false) }, 'v1.7.0').warning, true);
});
