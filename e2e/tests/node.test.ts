// What the suite relies on a node to do, as Kubernetes defines it: Service
// routing through kube-proxy's iptables rules, NET_ADMIN for an init
// container's iptables, probes, restarts, volumes, graceful deletion, webhook
// calls to a pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, AppsV1Api, DiscoveryV1Api, type V1Pod, type V1Container } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, containerLog, waitForPod, isReady, isNotFound, deployment } from '../support/kube.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

const ECHO = IMAGES.echo;
const SHELL = IMAGES.shell;

async function createPod(namespace: string, name: string, spec: NonNullable<V1Pod['spec']>, labels: Record<string, string> = {}): Promise<void> {
  await core.createNamespacedPod({ namespace, body: { metadata: { name, labels }, spec } });
}

const shell = (name: string, script: string, extra: Partial<V1Container> = {}): V1Container => ({ name, image: SHELL, command: ['sh', '-c', script], ...extra });
const finished = (pod: V1Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

test('a Deployment behind a Service: pods run and are ready, the EndpointSlice lists them, a pod reaches all three by ClusterIP', async (t) => {
  const ns = await testNamespace(t);
  const labels = { app: 'echo' };
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: deployment('echo', 3, {
      containers: [{
        name: 'echo', image: ECHO,
        env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1 },
      }],
    }),
  });
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'echo' }, spec: { selector: labels, ports: [{ port: 80, targetPort: 'http' }] } } });

  const pods = await eventually('3 ready pods', async () => {
    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo' });
    return list.items.length === 3 && list.items.every((p) => p.status?.phase === 'Running' && isReady(p)) ? list.items : undefined;
  });
  const podIPs = pods.map((p) => p.status?.podIP ?? '').sort();
  assert.equal(new Set(podIPs).size, 3, 'each pod has an address of its own');
  for (const ip of podIPs) assert.match(ip, /^198\.18\.\d+\.\d+$/);

  const discovery = kc.makeApiClient(DiscoveryV1Api);
  await eventually('EndpointSlice lists the three ready pods', async () => {
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=echo' });
    const ready = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses).sort();
    return JSON.stringify(ready) === JSON.stringify(podIPs) ? true : undefined;
  });

  await createPod(ns, 'client', {
    restartPolicy: 'Never',
    // kube-proxy programs the endpoints a moment after the EndpointSlice lists them: ask until all three answered (at most 200 requests).
    containers: [shell('client', 'seen=""; for i in $(seq 1 200); do p=$(curl -s -m 2 http://$ECHO_SERVICE_HOST:$ECHO_SERVICE_PORT/ -o - | sed -n \'s/.*"pod":"\\([^"]*\\)".*/\\1/p\'); echo "$p"; case " $seen " in *" $p "*) ;; *) seen="$seen $p";; esac; [ $(echo $seen | wc -w) -ge 3 ] && break; sleep 0.1; done')],
  });
  const client = await waitForPod(ns, 'client', finished, 'finished');
  assert.equal(client.status?.phase, 'Succeeded');
  const answeredBy = new Set((await containerLog(ns, 'client', 'client')).split('\n').filter(Boolean));
  assert.deepEqual([...answeredBy].sort(), pods.map((p) => p.metadata?.name).sort(), 'requests to the ClusterIP reached every pod');

  // The load client the later scenarios use, through the same Service.
  await createPod(ns, 'load', {
    restartPolicy: 'Never',
    containers: [{ name: 'load', image: IMAGES.load, env: [{ name: 'TARGET', value: 'http://$(ECHO_SERVICE_HOST)/' }, { name: 'RPS', value: '50' }, { name: 'DURATION', value: '2' }] }],
  });
  await waitForPod(ns, 'load', finished, 'finished');
  const final = JSON.parse((await containerLog(ns, 'load', 'load')).trim().split('\n').pop() ?? '{}') as { final: boolean; sent: number; ok: number; failed: object };
  assert.equal(final.final, true);
  assert.ok(final.sent >= 80, `about 100 requests were sent (${final.sent})`);
  assert.equal(final.ok, final.sent);
  assert.deepEqual(final.failed, {});
});

test('an init container with NET_ADMIN redirects the pod\'s outbound port 80 with iptables; without NET_ADMIN it cannot', async (t) => {
  const ns = await testNamespace(t);
  await createPod(ns, 'redirect', {
    restartPolicy: 'Never',
    initContainers: [shell('iptables', 'iptables -t nat -A OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 8080', {
      securityContext: { capabilities: { add: ['NET_ADMIN'] } },
    })],
    containers: [
      { name: 'echo', image: ECHO, env: [{ name: 'POD_NAME', value: 'redirected-here' }] },
      // An address no one has: only the redirect can answer it.
      shell('client', 'sleep 1; curl -s -m 3 http://198.18.255.250:80/probe'),
    ],
  });
  await waitForPod(ns, 'redirect', (p) => p.status?.containerStatuses?.find((c) => c.name === 'client')?.state?.terminated !== undefined, 'client finished');
  const reply = JSON.parse(await containerLog(ns, 'redirect', 'client')) as { pod: string; url: string };
  assert.equal(reply.pod, 'redirected-here');
  assert.equal(reply.url, '/probe');

  await createPod(ns, 'no-cap', {
    restartPolicy: 'Never',
    initContainers: [shell('iptables', 'iptables -t nat -A OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 8080')],
    containers: [{ name: 'echo', image: ECHO }],
  });
  const failed = await waitForPod(ns, 'no-cap', (p) => p.status?.phase === 'Failed', 'Failed');
  const init = failed.status?.initContainerStatuses?.[0]?.state?.terminated;
  assert.notEqual(init?.exitCode, 0, 'iptables is refused without NET_ADMIN');
  assert.match(await containerLog(ns, 'no-cap', 'iptables'), /Permission denied|not permitted/i);
});

test('a pod whose readiness probe fails is running but not a ready endpoint', async (t) => {
  const ns = await testNamespace(t);
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } } });
  const probe = { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1, failureThreshold: 1 };
  await createPod(ns, 'good', { containers: [{ name: 'echo', image: ECHO, readinessProbe: probe }] }, { app: 'web' });
  await createPod(ns, 'bad', { containers: [{ name: 'echo', image: ECHO, readinessProbe: probe, env: [{ name: 'FAIL_READY', value: '1' }] }] }, { app: 'web' });
  const good = await waitForPod(ns, 'good', isReady, 'Ready');
  const bad = await waitForPod(ns, 'bad', (p) => p.status?.containerStatuses?.[0]?.state?.running !== undefined, 'running');
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  await eventually('EndpointSlice: good ready, bad not ready', async () => {
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=web' });
    const eps = slices.items.flatMap((s) => s.endpoints ?? []);
    const byIp = new Map(eps.map((e) => [e.addresses[0], e.conditions?.ready]));
    return byIp.get(good.status?.podIP ?? '') === true && byIp.get(bad.status?.podIP ?? '') === false ? true : undefined;
  });
  const again = await core.readNamespacedPod({ name: 'bad', namespace: ns });
  assert.equal(isReady(again), false);
  assert.equal(again.status?.phase, 'Running');
});

test('a crashing container is restarted with its count and last state kept', async (t) => {
  const ns = await testNamespace(t);
  await createPod(ns, 'crash', { containers: [shell('crash', 'echo starting; exit 3')] });
  const pod = await waitForPod(ns, 'crash', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2, 'restarted twice', 90_000);
  const cs = pod.status?.containerStatuses?.[0];
  assert.equal(cs?.lastState?.terminated?.exitCode, 3);
  assert.equal(pod.status?.phase, 'Running');
  // kubectl logs, through the API server to the node's kubelet API. A real kubelet removes
  // all but the newest dead instances, and a restart moves "current" and "previous" on: a read
  // that races one gets "unable to retrieve container logs" for an instance just removed.
  // Each run printed the same line, so any moment both can be read shows both kept.
  let seen: string[] = [];
  await eventually('the current run\'s log and the run before it, both "starting"', async () => {
    seen = [await containerLog(ns, 'crash', 'crash'), await containerLog(ns, 'crash', 'crash.previous')];
    return seen.every((l) => l === 'starting\n') ? true : undefined;
  }, 90_000).catch((err: unknown) => { throw new Error(`last read: ${JSON.stringify(seen)}`, { cause: err }); });
});

test('deletion sends SIGTERM, honours the grace period, then kills', async (t) => {
  const ns = await testNamespace(t);
  // Ignores SIGTERM: only SIGKILL at the end of the grace period stops it.
  await createPod(ns, 'stubborn', { terminationGracePeriodSeconds: 4, containers: [shell('c', 'trap "echo got TERM" TERM; while true; do sleep 0.2; done')] });
  await waitForPod(ns, 'stubborn', (p) => p.status?.phase === 'Running', 'Running');
  const t0 = Date.now();
  await core.deleteNamespacedPod({ name: 'stubborn', namespace: ns });
  // Read while the pod terminates: once it is gone its log is gone too (containerLog asks the API server, as kubectl logs does).
  await eventually('the container got SIGTERM', async () => (/got TERM/.test(await containerLog(ns, 'stubborn', 'c')) ? true : undefined));
  await eventually('pod gone', async () => {
    try { await core.readNamespacedPod({ name: 'stubborn', namespace: ns }); return undefined; } catch (err) { return isNotFound(err) ? true : undefined; }
  });
  const took = (Date.now() - t0) / 1000;
  assert.ok(took >= 4, `the grace period of 4s was honoured (took ${took}s)`);
  assert.ok(took < 20, `and then the container was killed (took ${took}s)`);
});

test('an unknown image fails like an image pull, with the reason', async (t) => {
  const ns = await testNamespace(t);
  await createPod(ns, 'ghost', { containers: [{ name: 'c', image: 'example.com/nope:1' }] });
  const pod = await waitForPod(ns, 'ghost', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull', 'ErrImagePull');
  // Nothing can be pulled (no route off the machine): the reason names the image that could not be.
  assert.match(pod.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /example\.com\/nope:1/);
  assert.equal(pod.status?.phase, 'Pending');
});

test('volumes, users and native sidecars', async (t) => {
  const ns = await testNamespace(t);
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cfg' }, data: { 'greeting.txt': 'hello' } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'sec' }, stringData: { password: 's3cret' } } });
  const audience = 'identity.skein-system.cluster.local';
  await createPod(ns, 'vols', {
    restartPolicy: 'Never',
    volumes: [
      { name: 'cfg', configMap: { name: 'cfg' } },
      { name: 'sec', secret: { secretName: 'sec' } },
      { name: 'info', downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }, { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      { name: 'token', projected: { sources: [{ serviceAccountToken: { path: 'token', audience, expirationSeconds: 600 } }] } },
      { name: 'shared', emptyDir: {} },
    ],
    initContainers: [
      shell('prepare', 'echo from-init > /shared/note', { volumeMounts: [{ name: 'shared', mountPath: '/shared' }] }),
      // A native sidecar: starts before the main container and keeps running beside it.
      shell('sidecar', 'echo sidecar-up > /shared/sidecar; while true; do sleep 0.2; done', {
        restartPolicy: 'Always', volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
      }),
    ],
    containers: [shell('main', [
      'cat /etc/skein-cfg/greeting.txt; echo',
      'cat /etc/skein-sec/password; echo',
      'cat /etc/info/name; echo',
      'cat /etc/info/labels; echo',
      'cat /shared/note /shared/sidecar',
      'id -u',
      'test -s /var/run/skein/token && echo token-present',
      'touch /etc/skein-cfg/x 2>/dev/null && echo cfg-writable || echo cfg-readonly',
      // Header and claims only: without its signature the token is no credential, and no log may hold one (zz-logs.test).
      'cut -d. -f1,2 /var/run/skein/token; echo',
    ].join('; '), {
      securityContext: { runAsUser: 2102 },
      volumeMounts: [
        { name: 'cfg', mountPath: '/etc/skein-cfg', readOnly: true },
        { name: 'sec', mountPath: '/etc/skein-sec', readOnly: true },
        { name: 'info', mountPath: '/etc/info' },
        { name: 'token', mountPath: '/var/run/skein' },
        { name: 'shared', mountPath: '/shared' },
      ],
    })],
  }, { tier: 'backend' });
  const pod = await waitForPod(ns, 'vols', (p) => p.status?.containerStatuses?.[0]?.state?.terminated !== undefined, 'main finished');
  assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  const sidecar = pod.status?.initContainerStatuses?.find((c) => c.name === 'sidecar');
  assert.ok(sidecar?.state?.running || sidecar?.state?.terminated, 'the sidecar ran');
  const out = (await containerLog(ns, 'vols', 'main')).split('\n');
  assert.deepEqual(out.slice(0, 7), ['hello', 's3cret', 'vols', 'tier="backend"', 'from-init', 'sidecar-up', '2102']);
  assert.equal(out[7], 'token-present');
  assert.equal(out[8], 'cfg-readonly');

  // The projected token came from the TokenRequest API for this very pod: its claims bind it to the
  // audience asked for, the pod's name and UID (which only the API server's TokenRequest for this pod
  // writes), and the lifetime asked for. (A TokenReview would need the signature, which stays out of the log.)
  const claims = JSON.parse(Buffer.from((out[9] ?? '').split('.')[1] ?? '', 'base64url').toString()) as {
    aud: string[]; sub: string; exp: number; iat: number; 'kubernetes.io'?: { namespace?: string; pod?: { name?: string; uid?: string } };
  };
  assert.deepEqual(claims.aud, [audience]);
  assert.equal(claims.sub, `system:serviceaccount:${ns}:default`);
  assert.equal(claims['kubernetes.io']?.namespace, ns);
  assert.equal(claims['kubernetes.io']?.pod?.name, 'vols', 'the token is bound to the pod');
  assert.equal(claims['kubernetes.io']?.pod?.uid, pod.metadata?.uid, 'the token is bound to this pod, not another of its name');
  assert.equal(claims.exp - claims.iat, 600, 'the token lives as long as asked');
});

test('the API server calls a webhook by Service reference, through kube-proxy, to a pod', async (t) => {
  const ns = await testNamespace(t);
  const { createCa, issueLeaf, privateKeyPem } = await import('../../shared/tls.ts');
  const ca = await createCa({ commonName: 'e2e-webhook-ca', validForMs: 3_600_000 });
  const leaf = await issueLeaf(ca, { subject: 'CN=webhook', dnsNames: [`webhook.${ns}.svc`], usages: ['server'], validForMs: 3_600_000 });
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'webhook-tls' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': leaf.cert.toString('pem'), 'tls.key': await privateKeyPem(leaf.keys!.privateKey) } },
  });
  await createPod(ns, 'webhook', {
    volumes: [{ name: 'tls', secret: { secretName: 'webhook-tls' } }],
    containers: [{
      name: 'webhook', image: IMAGES.admission, volumeMounts: [{ name: 'tls', mountPath: '/tls', readOnly: true }],
      readinessProbe: { tcpSocket: { port: 8443 }, periodSeconds: 1 },
    }],
  }, { app: 'webhook' });
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'webhook' }, spec: { selector: { app: 'webhook' }, ports: [{ port: 443, targetPort: 8443 }] } } });
  await waitForPod(ns, 'webhook', isReady, 'Ready');

  const { AdmissionregistrationV1Api } = await import('@kubernetes/client-node');
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const name = `e2e-deny-${ns}`;
  await admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name },
      webhooks: [{
        name: 'deny.e2e.skein.dev',
        clientConfig: { service: { namespace: ns, name: 'webhook', path: '/validate', port: 443 }, caBundle: Buffer.from(ca.cert.toString('pem')).toString('base64') },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'], scope: 'Namespaced' }],
        // Only this test's namespace, so nothing else in the shared cluster depends on this webhook.
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'], timeoutSeconds: 5,
      }],
    },
  });
  t.after(async () => { await admission.deleteValidatingWebhookConfiguration({ name }); });

  const denied = await eventually('the webhook answers', async () => {
    try {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { generateName: 'x-', labels: { 'skein.dev/e2e-deny': 'because-the-test-says-so' } } } });
      return undefined;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return message.includes('denied by the e2e webhook') ? message : undefined;
    }
  });
  assert.match(denied, /because-the-test-says-so/);
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'fine' }, data: { a: 'b' } } });
  assert.match(await containerLog(ns, 'webhook', 'webhook'), /denied/);
});
