// Cluster DNS as a pod sees it: the resolv.conf the kubelet writes, CoreDNS
// (a Deployment behind the kube-dns Service) answering from Services and
// EndpointSlices, glibc's search path and ndots doing the rest. Every query is
// made inside a pod, with `kubectl exec`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, AppsV1Api } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, waitForPod, isReady, deployment, kubectl } from '../support/kube.ts';
import { CLUSTER_DNS_IP } from '../nodes/config.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

/**
 * Run by Node inside the client pod (the echo image), it prints one
 * `key=value` per line: the pod's resolv.conf, how each name resolves through
 * getaddrinfo (glibc: /etc/hosts, then DNS with the search path), which echo
 * pod answered HTTP by name, and the error code c-ares gets (a plain DNS query
 * to the nameserver, no search path) for a name that does not exist.
 */
const CLIENT_SCRIPT = `
const dns = require('node:dns').promises;
const fs = require('node:fs');
const ns = process.env.NS;
const out = (k, v) => console.log(k + '=' + v);
const addr = (name, all) => dns.lookup(name, { family: 4, all }).then((r) => all ? [...new Set(r.map((a) => a.address))].sort().join(',') + ',' : r.address, (e) => 'error ' + e.code);
const pod = async (url) => { try { const r = await fetch(url, { signal: AbortSignal.timeout(5000) }); return (await r.json()).pod; } catch (e) { return 'error ' + e.message; } };
(async () => {
  out('resolv', fs.readFileSync('/etc/resolv.conf', 'utf8').split('\\n').join(';'));
  for (const n of ['echo', 'echo.' + ns, 'echo.' + ns + '.svc.cluster.local']) out('host:' + n, await addr(n));
  out('headless', await addr('echo-pods.' + ns + '.svc.cluster.local', true));
  out('pod-record', await addr(process.env.POD_IP.split('.').join('-') + '.' + ns + '.pod.cluster.local'));
  out('hosts-file', await addr(require('node:os').hostname()));
  out('http-short', await pod('http://echo/'));
  out('http-fqdn', await pod('http://echo.' + ns + '.svc.cluster.local/'));
  out('unknown', await dns.resolve4('nope.' + ns + '.svc.cluster.local').then((a) => 'answered ' + a, (e) => e.code));
})();
`;

const report = (text: string) => new Map(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

test('a pod resolves its Services by short name, name.namespace and FQDN, reaches one over HTTP by name, and gets NXDOMAIN for an unknown name', async (t) => {
  const ns = await testNamespace(t, 'dns');
  const labels = { app: 'echo' };
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: deployment('echo', 2, {
      containers: [{
        name: 'echo', image: IMAGES.echo,
        env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1 },
      }],
    }),
  });
  const svc = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'echo' }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'echo-pods' }, spec: { clusterIP: 'None', selector: labels, ports: [{ name: 'http', port: 8080 }] } } });
  const clusterIP = svc.spec?.clusterIP ?? '';
  assert.match(clusterIP, /^198\.19\./);

  const pods = await eventually('2 ready echo pods', async () => {
    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo' });
    return list.items.length === 2 && list.items.every(isReady) ? list.items : undefined;
  });
  const podIPs = pods.map((p) => p.status?.podIP ?? '').sort();
  // The client: the echo image for its Node, outside both Services' selectors.
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'client', labels: { app: 'client' } },
      spec: {
        containers: [{
          name: 'client', image: IMAGES.echo,
          env: [
            { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          ],
        }],
      },
    },
  });
  const client = await waitForPod(ns, 'client', (p) => p.status?.phase === 'Running', 'running');
  const podIP = client.status?.podIP ?? '';
  const inClient = async () => report(await kubectl('-n', ns, 'exec', 'client', '-c', 'client', '--', 'node', '-e', CLIENT_SCRIPT));
  // Until CoreDNS has seen both ready endpoints of the headless Service and
  // kube-proxy routes the Service: the answers are then what they know, not a race with their watches.
  const got = await eventually('cluster DNS lists both ready endpoints, and http://echo/ answers', async () => {
    const r = await inClient();
    return r.get('headless') === `${podIPs.join(',')},` && !(r.get('http-short') ?? 'error').startsWith('error') ? r : undefined;
  });
  const log = JSON.stringify(Object.fromEntries(got));

  assert.equal(got.get('resolv'), `search ${ns}.svc.cluster.local svc.cluster.local cluster.local;nameserver ${CLUSTER_DNS_IP};options ndots:5;`, log);
  assert.equal(got.get('host:echo'), clusterIP, 'the short name, through the search path');
  assert.equal(got.get(`host:echo.${ns}`), clusterIP, 'name.namespace');
  assert.equal(got.get(`host:echo.${ns}.svc.cluster.local`), clusterIP, 'the FQDN');
  assert.equal(got.get('headless'), `${podIPs.join(',')},`, 'a headless Service resolves to its ready pods');
  assert.equal(got.get('pod-record'), podIP, 'the pod\'s dashed-address name');
  assert.equal(got.get('hosts-file'), podIP, '/etc/hosts names the pod');
  const echoNames = pods.map((p) => p.metadata?.name ?? '');
  assert.ok(echoNames.includes(got.get('http-short') ?? ''), `http://echo/ was answered by an echo pod: ${log}`);
  assert.ok(echoNames.includes(got.get('http-fqdn') ?? ''), `http://echo.${ns}.svc.cluster.local/ was answered by an echo pod: ${log}`);
  assert.equal(got.get('unknown'), 'ENOTFOUND', 'an unknown Service name is NXDOMAIN');
});
