import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LIMITS, SIDECAR_DEFAULTS, WRITTEN_VARIABLES, parseEnvDuration, parseHostPort, parseSidecarEnv, sidecarEnv, type SidecarEnv, type SidecarSettings,
} from './sidecar.ts';

const POD_FIELDS: Record<string, string> = {
  'metadata.name': 'web-1', 'metadata.namespace': 'shop', 'status.podIP': 'fd00::7', 'spec.nodeName': 'node-a', 'spec.serviceAccountName': 'web',
};

/** What a kubelet gives the container: fieldRefs filled in, resourceFieldRefs in bytes, $(VAR) expanded in order. */
function kubelet(settings: SidecarSettings, memoryLimitBytes: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const e of sidecarEnv(settings)) {
    const fieldPath = e.valueFrom?.fieldRef?.fieldPath;
    if (fieldPath !== undefined) env[e.name] = POD_FIELDS[fieldPath];
    else if (e.valueFrom?.resourceFieldRef) env[e.name] = memoryLimitBytes;
    else env[e.name] = (e.value ?? '').replace(/\$\((\w+)\)/g, (_, name: string) => env[name] ?? '');
  }
  return env;
}

function parsed(env: NodeJS.ProcessEnv): SidecarEnv {
  const r = parseSidecarEnv(env);
  assert.ok(r.ok, JSON.stringify(r));
  return r.env;
}

const SETTINGS: SidecarSettings = {
  trustDomain: 'mesh.example.org', clusterDomain: 'corp.local', appPorts: [8080, 9090], probes: [{ port: 9090, path: '/live' }],
  skipInboundPorts: [{ from: 22, to: 22 }], skipOutboundPorts: [{ from: 25, to: 25 }, { from: 6000, to: 6010 }], opaquePorts: [],
  logLevel: 'debug', logFormat: 'plain', defaultInboundPolicy: 'deny', shutdownEndpoint: true, shutdownGracePeriodMs: 45_000,
};

test('what the injector writes, the proxy reads back as the same settings', () => {
  const e = parsed(kubelet(SETTINGS, '268435456'));
  assert.deepEqual({
    trustDomain: e.SKEIN_TRUST_DOMAIN, appPorts: e.SKEIN_APP_PORTS, probes: e.SKEIN_PROBES,
    skipInboundPorts: e.SKEIN_SKIP_INBOUND_PORTS, skipOutboundPorts: e.SKEIN_SKIP_OUTBOUND_PORTS, opaquePorts: e.SKEIN_OPAQUE_PORTS,
    logLevel: e.SKEIN_LOG_LEVEL, logFormat: e.SKEIN_LOG_FORMAT, defaultInboundPolicy: e.SKEIN_DEFAULT_INBOUND_POLICY,
    shutdownEndpoint: e.SKEIN_SHUTDOWN_ENDPOINT, shutdownGracePeriodMs: e.SKEIN_SHUTDOWN_GRACE_PERIOD,
  }, {
    trustDomain: SETTINGS.trustDomain, appPorts: SETTINGS.appPorts, probes: SETTINGS.probes,
    skipInboundPorts: SETTINGS.skipInboundPorts, skipOutboundPorts: SETTINGS.skipOutboundPorts, opaquePorts: SETTINGS.opaquePorts,
    logLevel: SETTINGS.logLevel, logFormat: SETTINGS.logFormat, defaultInboundPolicy: SETTINGS.defaultInboundPolicy,
    shutdownEndpoint: SETTINGS.shutdownEndpoint, shutdownGracePeriodMs: SETTINGS.shutdownGracePeriodMs,
  });
  assert.equal(e.SKEIN_IDENTITY_NAME, 'web.shop.serviceaccount.identity.skein-system.mesh.example.org');
  assert.equal(e.SKEIN_IDENTITY_SERVER_NAME, 'skein-identity.skein-system.serviceaccount.identity.skein-system.mesh.example.org');
  assert.equal(e.SKEIN_DISCOVERY_SERVER_NAME, 'skein-controller.skein-system.serviceaccount.identity.skein-system.mesh.example.org');
  assert.deepEqual(e.SKEIN_IDENTITY_ADDR, { host: 'skein-identity.skein-system.svc.corp.local', port: 8080 });
  assert.deepEqual(e.SKEIN_DISCOVERY_ADDR, { host: 'skein-discovery.skein-system.svc.corp.local', port: 8086 });
  assert.equal(e.SKEIN_POD_IP, 'fd00::7');
  assert.equal(e.SKEIN_MEMORY_LIMIT, 268_435_456);
});

test('an unset variable reads as what the injector writes by default', () => {
  const defaults: SidecarSettings = {
    ...SIDECAR_DEFAULTS, opaquePorts: [...SIDECAR_DEFAULTS.opaquePorts], appPorts: [], probes: [], skipInboundPorts: [], skipOutboundPorts: [],
    shutdownGracePeriodMs: SIDECAR_DEFAULTS.shutdownGracePeriodSeconds * 1000,
  };
  const written = parsed(kubelet(defaults, '0'));
  const pod = { SKEIN_POD_NAME: 'web-1', SKEIN_POD_NAMESPACE: 'shop', SKEIN_POD_IP: 'fd00::7', SKEIN_SERVICE_ACCOUNT: 'web' };
  const bare = parsed(pod);
  for (const name of WRITTEN_VARIABLES) {
    if (name === 'SKEIN_NODE_NAME' || name === 'SKEIN_MEMORY_LIMIT' || name === 'SKEIN_IDENTITY_NAME') continue; // pod facts the kubelet supplies
    assert.deepEqual(bare[name], written[name], name);
  }
  assert.deepEqual({ tls: bare.SKEIN_TLS_HANDSHAKE_TIMEOUT, headers: bare.SKEIN_HEADERS_TIMEOUT, idle: bare.SKEIN_IDLE_TIMEOUT, bytes: bare.SKEIN_MAX_HEADER_BYTES },
    { tls: DEFAULT_LIMITS.tlsHandshakeTimeoutMs, headers: DEFAULT_LIMITS.headersTimeoutMs, idle: DEFAULT_LIMITS.idleMs, bytes: DEFAULT_LIMITS.maxHeaderBytes });
});

test('every problem names its variable; a tuned-only variable is never written', () => {
  const r = parseSidecarEnv({ SKEIN_POD_NAME: 'web-1', SKEIN_HEADERS_TIMEOUT: '0s', SKEIN_MAX_CONNECTIONS: 'many' });
  assert.ok(!r.ok);
  assert.deepEqual(r.problems.map((p) => p.variable).sort(), ['SKEIN_HEADERS_TIMEOUT', 'SKEIN_MAX_CONNECTIONS', 'SKEIN_POD_IP', 'SKEIN_POD_NAMESPACE', 'SKEIN_SERVICE_ACCOUNT']);
  assert.ok(!WRITTEN_VARIABLES.includes('SKEIN_MAX_CONNECTIONS'));
  assert.ok(WRITTEN_VARIABLES.includes('SKEIN_MEMORY_LIMIT'));
});

test('parseEnvDuration: the duration grammar with bare seconds', () => {
  assert.equal(parseEnvDuration('30s'), 30_000);
  assert.equal(parseEnvDuration('30'), 30_000);
  assert.equal(parseEnvDuration('500ms'), 500);
  assert.equal(parseEnvDuration('2m'), 120_000);
  assert.equal(parseEnvDuration('1.5h'), 5_400_000);
  assert.throws(() => parseEnvDuration('-1s'), /not a duration/);
  assert.throws(() => parseEnvDuration(''), /not a duration/);
});

test('parseHostPort', () => {
  assert.deepEqual(parseHostPort('a.b.svc:8080'), { host: 'a.b.svc', port: 8080 });
  assert.deepEqual(parseHostPort('[fd00::1]:4143'), { host: 'fd00::1', port: 4143 });
  assert.throws(() => parseHostPort('fd00::1:4143'), /host:port/);
  assert.throws(() => parseHostPort('a:0'), /host:port/);
});
