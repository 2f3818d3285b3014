import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from './config.ts';
import { DEFAULT_LIMITS, SIDECAR_DEFAULTS, sidecarEnv, type SidecarSettings } from '../../api/sidecar.ts';

const POD = { SKEIN_POD_NAME: 'web-1', SKEIN_POD_NAMESPACE: 'shop', SKEIN_POD_IP: '10.1.0.7', SKEIN_SERVICE_ACCOUNT: 'web' };

/** The environment the kubelet would give the injected container: fieldRefs filled in, $(VAR) expanded. */
function envFromInjector(settings: Partial<SidecarSettings>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const fields: Record<string, string> = {
    'metadata.name': POD.SKEIN_POD_NAME, 'metadata.namespace': POD.SKEIN_POD_NAMESPACE, 'status.podIP': POD.SKEIN_POD_IP,
    'spec.nodeName': 'node-a', 'spec.serviceAccountName': POD.SKEIN_SERVICE_ACCOUNT,
  };
  const all: SidecarSettings = {
    ...SIDECAR_DEFAULTS, opaquePorts: [...SIDECAR_DEFAULTS.opaquePorts], appPorts: [], probes: [], skipInboundPorts: [], skipOutboundPorts: [],
    shutdownGracePeriodMs: SIDECAR_DEFAULTS.shutdownGracePeriodSeconds * 1000, ...settings,
  };
  for (const e of sidecarEnv(all)) {
    const fieldPath = e.valueFrom?.fieldRef?.fieldPath;
    if (e.valueFrom?.resourceFieldRef) continue; // no memory limit: the default connection cap
    env[e.name] = fieldPath !== undefined ? fields[fieldPath] : (e.value ?? '').replace(/\$\((\w+)\)/g, (_, name: string) => env[name] ?? '');
  }
  return env;
}

test('reads everything the injector sets', () => {
  const c = loadConfig(envFromInjector({
    appPorts: [8080, 9090], probes: [{ port: 8080, path: '/ready' }, { port: 9090, path: '/live' }],
    opaquePorts: [{ from: 3306, to: 3306 }, { from: 8000, to: 8100 }], skipOutboundPorts: [{ from: 25, to: 25 }],
    shutdownEndpoint: true, shutdownGracePeriodMs: 45_000, logLevel: 'debug',
  }));
  assert.deepEqual(c, {
    pod: { name: 'web-1', namespace: 'shop', ip: '10.1.0.7', nodeName: 'node-a', serviceAccount: 'web' },
    identity: {
      name: 'web.shop.serviceaccount.identity.skein-system.cluster.local',
      trustDomain: 'cluster.local',
      addr: { host: 'skein-identity.skein-system.svc.cluster.local', port: 8080 },
      serverName: 'skein-identity.skein-system.serviceaccount.identity.skein-system.cluster.local',
      tokenFile: '/var/run/secrets/skein/token',
      trustRootsFile: '/var/run/skein/trust-roots/ca-bundle.crt',
    },
    discovery: {
      addr: { host: 'skein-discovery.skein-system.svc.cluster.local', port: 8086 },
      serverName: 'skein-controller.skein-system.serviceaccount.identity.skein-system.cluster.local',
    },
    ports: { inbound: 4143, outbound: 4140, control: 4190, admin: 4191 },
    appPorts: [8080, 9090],
    skipInboundPorts: [],
    skipOutboundPorts: [{ from: 25, to: 25 }],
    opaquePorts: [{ from: 3306, to: 3306 }, { from: 8000, to: 8100 }],
    log: { level: 'debug', format: 'json' },
    defaultInboundPolicy: 'all-unauthenticated',
    probes: [{ port: 8080, path: '/ready' }, { port: 9090, path: '/live' }],
    shutdownEndpoint: true,
    shutdownGracePeriodMs: 45_000,
    limits: DEFAULT_LIMITS,
  });
});

test('only the pod facts are required; the rest defaults to the injector\'s contract', () => {
  const c = loadConfig(POD);
  assert.equal(c.identity.name, 'web.shop.serviceaccount.identity.skein-system.cluster.local');
  assert.deepEqual(c.ports, { inbound: 4143, outbound: 4140, control: 4190, admin: 4191 });
  assert.deepEqual(c.opaquePorts, SIDECAR_DEFAULTS.opaquePorts);
  assert.deepEqual(c.appPorts, []);
  assert.equal(c.pod.nodeName, undefined);
  assert.equal(c.shutdownEndpoint, false);
  assert.equal(c.shutdownGracePeriodMs, 30_000);
  assert.deepEqual(c.probes, []);
});

test('an empty opaque-ports list means none, not the defaults', () => {
  assert.deepEqual(loadConfig({ ...POD, SKEIN_OPAQUE_PORTS: '' }).opaquePorts, []);
});

test('a trust domain changes the derived names', () => {
  const c = loadConfig({ ...POD, SKEIN_TRUST_DOMAIN: 'example.org' });
  assert.equal(c.identity.name, 'web.shop.serviceaccount.identity.skein-system.example.org');
  assert.equal(c.identity.serverName, 'skein-identity.skein-system.serviceaccount.identity.skein-system.example.org');
  assert.equal(c.discovery.serverName, 'skein-controller.skein-system.serviceaccount.identity.skein-system.example.org');
});

function problems(env: NodeJS.ProcessEnv): Record<string, string> {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'invalid_config');
    for (const p of err.problems) assert.ok(err.message.includes(`${p.variable} ${p.message}`));
    return Object.fromEntries(err.problems.map((p) => [p.variable, p.message]));
  }
  assert.fail('loadConfig accepted the environment');
}

test('missing pod facts are each named with where they come from', () => {
  assert.deepEqual(problems({ SKEIN_POD_NAME: 'web-1', SKEIN_POD_NAMESPACE: ' ' }), {
    SKEIN_POD_NAMESPACE: "is empty; expected the pod's namespace (fieldRef metadata.namespace)",
    SKEIN_POD_IP: "is not set; expected the pod's IP (fieldRef status.podIP)",
    SKEIN_SERVICE_ACCOUNT: "is not set; expected the pod's service account (fieldRef spec.serviceAccountName)",
  });
});

test('malformed values name the variable and what it accepts', () => {
  assert.deepEqual(problems({
    ...POD, SKEIN_POD_IP: '10.1.0', SKEIN_ADMIN_PORT: '70000', SKEIN_OPAQUE_PORTS: '25,http', SKEIN_LOG_LEVEL: 'loud',
    SKEIN_IDENTITY_ADDR: 'skein-identity', SKEIN_SHUTDOWN_ENDPOINT: 'yes', SKEIN_SHUTDOWN_GRACE_PERIOD: 'soon',
    SKEIN_DEFAULT_INBOUND_POLICY: 'allow', SKEIN_PROBES: '[{"port":8080,"path":"ready"}]',
  }), {
    SKEIN_POD_IP: 'must be an IPv4 or IPv6 address',
    SKEIN_ADMIN_PORT: 'must be a port number 1-65535',
    SKEIN_OPAQUE_PORTS: '"http" is not a port (1-65535) or a range like 8000-8010',
    SKEIN_LOG_LEVEL: 'must be one of trace, debug, info, warn, error',
    SKEIN_IDENTITY_ADDR: '"skein-identity" is not host:port such as skein-identity.skein-system.svc.cluster.local:8080',
    SKEIN_SHUTDOWN_ENDPOINT: 'must be enabled or disabled',
    SKEIN_SHUTDOWN_GRACE_PERIOD: '"soon" is not a duration such as 30s, 500ms or 2m',
    SKEIN_DEFAULT_INBOUND_POLICY: 'must be one of all-unauthenticated, all-authenticated, cluster-authenticated, deny',
    SKEIN_PROBES: 'must be a JSON list such as [{"port":8080,"path":"/ready"}] (the injector writes it from the app\'s httpGet probes)',
  });
  assert.deepEqual(Object.keys(problems({ ...POD, SKEIN_PROBES: '8080:/ready' })), ['SKEIN_PROBES'], 'not JSON');
});

test('two proxy ports on the same number are refused', () => {
  assert.deepEqual(problems({ ...POD, SKEIN_ADMIN_PORT: '4143' }), { SKEIN_ADMIN_PORT: 'is 4143, the same as SKEIN_INBOUND_PORT; each proxy port needs its own' });
});
