// Cluster DNS as a pod sees it: the resolv.conf the local node writes, the
// DNS server on the pods' host address answering from Services and
// EndpointSlices, glibc's search path and ndots doing the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { CoreV1Api, AppsV1Api, type V1Pod } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, containerLog, waitForPod, isReady, deployment } from '../support/kube.ts';
import { NETWORK } from '../cluster/components.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

const finished = (pod: V1Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/**
 * What the client pod reports, one `key=value` per line: its resolv.conf, how
 * each name resolves (getent: glibc, /etc/hosts then DNS, with the search
 * path), which echo pod answered HTTP by name, and the error code Node's
 * c-ares resolver gets for a name that does not exist.
 */
const CLIENT_SCRIPT = `
echo "resolv=$(tr '\\n' ';' < /etc/resolv.conf)"
for n in echo echo.$NS echo.$NS.svc.cluster.local; do echo "host:$n=$(getent hosts $n | awk '{print $1}')"; done
echo "headless=$(getent ahostsv4 echo-pods.$NS.svc.cluster.local | awk '{print $1}' | sort -u | tr '\\n' ',')"
echo "pod-record=$(getent hosts $(echo $POD_IP | tr . -).$NS.pod.cluster.local | awk '{print $1}')"
echo "hosts-file=$(getent hosts client | awk '{print $1}')"
echo "http-short=$(curl -s -m 5 http://echo/ | sed -n 's/.*"pod":"\\([^"]*\\)".*/\\1/p')"
echo "http-fqdn=$(curl -s -m 5 http://echo.$NS.svc.cluster.local/ | sed -n 's/.*"pod":"\\([^"]*\\)".*/\\1/p')"
"$NODE" -e "require('node:dns').promises.resolve4('nope.' + process.env.NS + '.svc.cluster.local').then((a) => console.log('unknown=answered ' + a), (e) => console.log('unknown=' + e.code))"
`;

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
  // The same server the pod will ask, asked from the host, until it has seen both ready endpoints:
  // the pod's answers are then what it knows, not a race with its watch.
  const dns = new Resolver({ timeout: 2_000, tries: 1 });
  dns.setServers([NETWORK.hostIp]);
  await eventually('cluster DNS lists both ready endpoints of the headless Service', async () => {
    const ips = await dns.resolve4(`echo-pods.${ns}.svc.cluster.local`);
    return JSON.stringify(ips.sort()) === JSON.stringify(podIPs) ? true : undefined;
  });
  // kube-proxy rejects connections to a Service it has no endpoints for yet; wait until its rules have them.
  await eventually('kube-proxy routes the ClusterIP to an echo pod', async () => ((await fetch(`http://${clusterIP}/`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined));

  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'client' },
      spec: {
        restartPolicy: 'Never',
        containers: [{
          name: 'client', image: IMAGES.shell, command: ['sh', '-c', CLIENT_SCRIPT],
          env: [
            { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            // The shell image runs host tools; this is the Node the test itself runs on.
            { name: 'NODE', value: process.execPath },
          ],
        }],
      },
    },
  });
  const client = await waitForPod(ns, 'client', finished, 'finished');
  const log = await containerLog(ns, 'client', 'client');
  const report = new Map(log.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const podIP = client.status?.podIP ?? '';

  assert.equal(report.get('resolv'), `nameserver ${NETWORK.hostIp};search ${ns}.svc.cluster.local svc.cluster.local cluster.local;options ndots:5;`, log);
  assert.equal(report.get('host:echo'), clusterIP, 'the short name, through the search path');
  assert.equal(report.get(`host:echo.${ns}`), clusterIP, 'name.namespace');
  assert.equal(report.get(`host:echo.${ns}.svc.cluster.local`), clusterIP, 'the FQDN');
  assert.equal(report.get('headless'), `${podIPs.join(',')},`, 'a headless Service resolves to its ready pods');
  assert.equal(report.get('pod-record'), podIP, 'the pod\'s dashed-address name');
  assert.equal(report.get('hosts-file'), podIP, '/etc/hosts names the pod');
  const echoNames = pods.map((p) => p.metadata?.name ?? '');
  assert.ok(echoNames.includes(report.get('http-short') ?? ''), `http://echo/ was answered by an echo pod: ${log}`);
  assert.ok(echoNames.includes(report.get('http-fqdn') ?? ''), `http://echo.${ns}.svc.cluster.local/ was answered by an echo pod: ${log}`);
  assert.equal(report.get('unknown'), 'ENOTFOUND', 'an unknown Service name is NXDOMAIN');
});
