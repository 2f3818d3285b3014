import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cniConflist, containerdConfig, kubeletConfig, nodeDirs, REAL_NODES } from './config.ts';
import { preflight, type Check } from './preflight.ts';

const layout = { dir: '/c', binDir: '/bin', ports: {} as never };
const [first, second] = REAL_NODES;

test('each node has its own containerd socket, root, state, cgroup parent, bridge and /24, all inside 198.18.0.0/16', () => {
  assert.equal(REAL_NODES.length, 3);
  const a = nodeDirs('/c', first!);
  const b = nodeDirs('/c', second!);
  for (const k of ['socket', 'containerdRoot', 'containerdState', 'kubeletRoot'] as const) assert.notEqual(a[k], b[k]);
  for (const n of REAL_NODES) assert.match(n.podCidr, /^198\.18\.\d+\.0\/24$/);
  const cgroupRoot = (n: typeof first) => (JSON.parse(kubeletConfig(layout, n!)) as { cgroupRoot: string }).cgroupRoot;
  assert.notEqual(cgroupRoot(first), cgroupRoot(second));
});

test('the settings this VM requires: no negative oom_score_adj, cgroup v1 allowed, runc with cgroupfs', () => {
  const toml = containerdConfig('/c', first!, 'ghcr.io/skein-dev/e2e/pause:v0.1.0');
  assert.match(toml, /restrict_oom_score_adj = true/);
  assert.match(toml, /SystemdCgroup = false/);
  assert.match(toml, /sandbox_image = "ghcr.io\/skein-dev\/e2e\/pause:v0.1.0"/);
  const kubelet = JSON.parse(kubeletConfig(layout, first!)) as Record<string, unknown>;
  assert.equal(kubelet.failCgroupV1, false);
  assert.equal(kubelet.cgroupDriver, 'cgroupfs');
});

test('pods get a route to 198.18.0.0/15 only: no default route off the machine', () => {
  const conf = JSON.parse(cniConflist('/c', first!)) as { plugins: { type: string; ipam?: { routes: { dst: string }[] } }[] };
  assert.deepEqual(conf.plugins.map((p) => p.type), ['bridge', 'portmap']);
  assert.deepEqual(conf.plugins[0]?.ipam?.routes, [{ dst: '198.18.0.0/15' }]);
});

test('a missing prerequisite stops the start with every missing piece and what to install', () => {
  const checks: Check[] = [
    { what: 'containerd', ok: () => false, fix: 'install the Debian package containerd' },
    { what: 'runc', ok: () => true, fix: 'x' },
    { what: 'CNI plugin bridge', ok: () => false, fix: 'install the Debian package containernetworking-plugins' },
  ];
  assert.throws(() => preflight('/bin', checks), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'node_prerequisite_missing'
    && /containerd is missing: install the Debian package containerd; CNI plugin bridge is missing: install the Debian package containernetworking-plugins/.test(e.message));
});
