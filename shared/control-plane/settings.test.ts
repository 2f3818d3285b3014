import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMON_SETTINGS, SettingsError, readSettings, setting } from './settings.ts';

const SHAPE = {
  ...COMMON_SETTINGS,
  SKEIN_ADMIN_PORT: setting.port(9996),
  SKEIN_DEFAULT_INBOUND_POLICY: setting.defaultInboundPolicy('all-unauthenticated'),
  SKEIN_CLUSTER_NETWORKS: setting.list(['10.0.0.0/8'], (n) => (n.includes('/') ? undefined : `"${n}" is not a CIDR`)),
};

test('unset and empty variables take their defaults', () => {
  const s = readSettings('skein-test', SHAPE, { SKEIN_ADMIN_PORT: ' ' });
  assert.deepEqual(s, {
    POD_NAMESPACE: 'skein-system', SKEIN_TRUST_DOMAIN: 'cluster.local', SKEIN_CLUSTER_DOMAIN: 'cluster.local',
    SKEIN_ADMIN_PORT: 9996, SKEIN_DEFAULT_INBOUND_POLICY: 'all-unauthenticated', SKEIN_CLUSTER_NETWORKS: ['10.0.0.0/8'],
  });
});

test('set variables are parsed to their types', () => {
  const s = readSettings('skein-test', SHAPE, { SKEIN_ADMIN_PORT: '9000', SKEIN_CLUSTER_NETWORKS: '10.0.0.0/8, fd00::/8', POD_NAME: 'c-1', SKEIN_TRUST_DOMAIN: 'example.org' });
  assert.equal(s.SKEIN_ADMIN_PORT, 9000);
  assert.deepEqual(s.SKEIN_CLUSTER_NETWORKS, ['10.0.0.0/8', 'fd00::/8']);
  assert.equal(s.POD_NAME, 'c-1');
  assert.equal(s.SKEIN_TRUST_DOMAIN, 'example.org');
});

test('every bad variable is refused by name with what to write (a bare Number() made these NaN)', () => {
  assert.throws(() => readSettings('skein-test', SHAPE, {
    SKEIN_ADMIN_PORT: '99999', SKEIN_DEFAULT_INBOUND_POLICY: 'allow', SKEIN_CLUSTER_NETWORKS: '10.0.0.0/8,ten', SKEIN_TRUST_DOMAIN: 'Cluster Local',
  }), (err: unknown) => {
    assert.ok(err instanceof SettingsError);
    assert.equal(err.code, 'invalid_settings');
    assert.deepEqual(Object.fromEntries(err.problems.map((p) => [p.variable, p.message])), {
      SKEIN_ADMIN_PORT: 'must be a port number 1-65535',
      SKEIN_DEFAULT_INBOUND_POLICY: 'must be one of all-unauthenticated, all-authenticated, cluster-authenticated, deny',
      SKEIN_CLUSTER_NETWORKS: '"ten" is not a CIDR',
      SKEIN_TRUST_DOMAIN: 'must be a DNS name such as cluster.local',
    });
    assert.match(err.message, /^skein-test settings: .*SKEIN_ADMIN_PORT must be a port number 1-65535/);
    return true;
  });
});

test('durations: Go syntax to milliseconds, the default when unset, a clear refusal otherwise', () => {
  const shape = { SKEIN_VALIDITY: setting.duration('8760h') };
  assert.equal(readSettings('skein-test', shape, {}).SKEIN_VALIDITY, 8760 * 3_600_000);
  assert.equal(readSettings('skein-test', shape, { SKEIN_VALIDITY: '1m30s' }).SKEIN_VALIDITY, 90_000);
  for (const bad of ['a year', '0s', '30']) {
    assert.throws(() => readSettings('skein-test', shape, { SKEIN_VALIDITY: bad }), (err: unknown) => err instanceof SettingsError
      && err.problems[0]?.variable === 'SKEIN_VALIDITY' && /must be a duration such as 30s, 5m or 8760h/.test(err.problems[0].message));
  }
});
