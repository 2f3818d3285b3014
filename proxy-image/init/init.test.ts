// skein-init against the real kernel: two network namespaces this test makes
// (a "pod" and a "peer" joined by a veth pair), real iptables, real conntrack,
// and originalDestination() reading what the redirect rewrote. Needs root;
// removes both namespaces (and with them the veth pair) even when it fails.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { skeinRules } from './rules.ts';
import { EXIT_STATUS } from './errors.ts';

const exec = promisify(execFile);
const MAIN = resolve(import.meta.dirname, 'main.ts');
const PROBE = resolve(import.meta.dirname, 'test-probe.ts');
const STEP_TIMEOUT_MS = 15_000;

const id = randomBytes(3).toString('hex');
// Not the local node's `skein-` prefix: its cleanup must never take our namespaces, nor we its.
const POD = `sktest-init-pod-${id}`;
const PEER = `sktest-init-peer-${id}`;
const POD_IP = '192.0.2.2';
const PEER_IP = '192.0.2.1';
const POD_IP6 = 'fd00:5e1::2';
const PEER_IP6 = 'fd00:5e1::1';
const PROXY_UID = 2102;

const ARGS = ['--inbound-port', '4143', '--outbound-port', '4140', '--proxy-uid', String(PROXY_UID),
  '--skip-inbound-ports', '4190,4191,9000', '--skip-outbound-ports', '3306,5000-5010', '--ipv6'];

const notRoot = process.getuid?.() !== 0 ? 'needs root to create network namespaces and write iptables rules' : false;

async function sh(...argv: string[]): Promise<string> {
  const [cmd = '', ...args] = argv;
  return (await exec(cmd, args, { timeout: STEP_TIMEOUT_MS, encoding: 'utf8' })).stdout;
}

function inNs(ns: string, ...argv: string[]): Promise<string> {
  return sh('ip', 'netns', 'exec', ns, ...argv);
}

interface Answer { server?: string; port?: number; original?: unknown; error?: string }

async function dial(ns: string, ip: string, port: number, uid?: number): Promise<Answer> {
  const out = await inNs(ns, process.execPath, PROBE, 'dial', ip, String(port), ...(uid === undefined ? [] : [String(uid)]));
  return JSON.parse(out) as Answer;
}

interface Run { status: number; stdout: string; stderr: string }

async function skeinInit(ns: string, args: readonly string[], wrapper: readonly string[] = []): Promise<Run> {
  try {
    const { stdout, stderr } = await exec('ip', ['netns', 'exec', ns, ...wrapper, process.execPath, MAIN, ...args], { timeout: STEP_TIMEOUT_MS, encoding: 'utf8' });
    return { status: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { status: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A nat table without iptables-save's timestamped comment lines. */
async function natRules(ns: string, save: 'iptables-save' | 'ip6tables-save' = 'iptables-save'): Promise<string> {
  return (await inNs(ns, save, '-t', 'nat')).split('\n').filter((l) => !l.startsWith('#')).join('\n');
}
const SAVES = ['iptables-save', 'ip6tables-save'] as const;

const servers: ChildProcess[] = [];

async function startServer(ns: string, label: string, ports: number[]): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, PROBE, 'serve', label, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  const [line] = await Promise.race([
    once(child.stdout, 'data') as Promise<[Buffer]>,
    once(child, 'exit').then(() => { throw new Error(`probe server in ${ns} exited before listening`); }),
  ]);
  assert.equal(line.toString().trim(), 'ready');
}

async function cleanup(): Promise<void> {
  for (const child of servers) child.kill('SIGKILL');
  await Promise.all(servers.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit')));
  for (const ns of [POD, PEER]) await sh('ip', 'netns', 'del', ns).catch(() => undefined);
}

const viaPodProxy = (port: number, ip: string, originalPort: number) => ({ server: 'pod', port, original: { ip, port: originalPort, family: 4 } });
/** Not redirected, seen by the pod: conntrack's original destination is the address the server itself answered on. */
const directToPod = (ip: string, port: number) => ({ server: 'pod', port, original: { ip, port, family: 4 } });
/** Not redirected, seen by the peer, whose namespace has no conntrack at all. */
const atPeer = (port: number) => ({ server: 'peer', port, original: { error: 'not_redirected' } });

describe('skein-init in a network namespace', { skip: notRoot, timeout: 120_000 }, () => {
  before(async () => {
    try {
      await sh('ip', 'netns', 'add', POD);
      await sh('ip', 'netns', 'add', PEER);
      await sh('ip', '-n', POD, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', PEER);
      for (const [ns, ip, ip6] of [[POD, POD_IP, POD_IP6], [PEER, PEER_IP, PEER_IP6]] as const) {
        await sh('ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
        await sh('ip', '-n', ns, 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad');
        await sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
        await sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
      }
      // Like a pod: everything not on the link goes via the peer.
      await sh('ip', '-n', POD, 'route', 'add', 'default', 'via', PEER_IP);
      // The pod's proxy ports, a skipped inbound port, and app ports on the peer.
      await startServer(POD, 'pod', [4140, 4143, 4191, 9000]);
      await startServer(PEER, 'peer', [8080, 3306, 5005]);
    } catch (err) {
      await cleanup();
      throw err;
    }
  });
  after(cleanup);

  test('before skein-init nothing is redirected and conntrack knows no original destination', async () => {
    assert.deepEqual(await dial(POD, PEER_IP, 8080), atPeer(8080));
  });

  test('without NET_ADMIN it exits non-zero, says what to fix, and writes nothing', async () => {
    const run = await skeinInit(POD, ARGS, ['setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin']);
    assert.equal(run.status, EXIT_STATUS.permission_denied);
    assert.match(run.stderr, /^skein-init: permission_denied: .*NET_ADMIN.*capabilities\.add: \[NET_ADMIN, NET_RAW\]/);
    assert.deepEqual(skeinRules(await natRules(POD)), []);
  });

  test('a usage mistake exits 2 and names the flag', async () => {
    const run = await skeinInit(POD, ['--inbound-port', '4143', '--outbound-port', '99999', '--proxy-uid', '2102']);
    assert.equal(run.status, EXIT_STATUS.usage_error);
    assert.match(run.stderr, /--outbound-port must be a port \(1-65535\), got "99999"/);
  });

  test('applies its rules, prints them, and a second run leaves the same ruleset', async () => {
    const first = await skeinInit(POD, ARGS);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /-A SKEIN_OUTBOUND_REDIRECT -p tcp .*-j REDIRECT --to-ports 4140/);
    const afterFirst = await Promise.all(SAVES.map((save) => natRules(POD, save)));
    const second = await skeinInit(POD, ARGS);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(await Promise.all(SAVES.map((save) => natRules(POD, save))), afterFirst);
    for (const dump of afterFirst) {
      assert.equal(dump.split('\n').filter((l) => l.startsWith('-A OUTPUT ') && l.endsWith('-j SKEIN_OUTPUT')).length, 1);
      assert.equal(dump.split('\n').filter((l) => l.startsWith('-A PREROUTING ') && l.endsWith('-j SKEIN_PREROUTING')).length, 1);
    }
  });

  test('outbound TCP lands on 4140 and originalDestination gives the address the app dialled', async () => {
    assert.deepEqual(await dial(POD, PEER_IP, 8080), viaPodProxy(4140, PEER_IP, 8080));
    // Nothing listens there: the redirect does not care whether the destination exists.
    assert.deepEqual(await dial(POD, '198.51.100.7', 443), viaPodProxy(4140, '198.51.100.7', 443));
  });

  test('with --ipv6, IPv6 is redirected both ways and its original destination recovered', async () => {
    assert.deepEqual(await dial(POD, PEER_IP6, 8080), { server: 'pod', port: 4140, original: { ip: PEER_IP6, port: 8080, family: 6 } });
    assert.deepEqual(await dial(PEER, POD_IP6, 8080), { server: 'pod', port: 4143, original: { ip: POD_IP6, port: 8080, family: 6 } });
    assert.deepEqual(await dial(POD, PEER_IP6, 8080, PROXY_UID), atPeer(8080));
  });

  test("the proxy's uid goes out untouched", async () => {
    assert.deepEqual(await dial(POD, PEER_IP, 8080, PROXY_UID), atPeer(8080));
  });

  test('skipped outbound ports and ranges go out untouched', async () => {
    assert.deepEqual(await dial(POD, PEER_IP, 3306), atPeer(3306));
    assert.deepEqual(await dial(POD, PEER_IP, 5005), atPeer(5005));
  });

  test('inbound TCP lands on 4143 with the original port recovered', async () => {
    assert.deepEqual(await dial(PEER, POD_IP, 8080), viaPodProxy(4143, POD_IP, 8080));
  });

  test("skipped inbound ports and the proxy's own ports reach their listener directly", async () => {
    assert.deepEqual(await dial(PEER, POD_IP, 9000), directToPod(POD_IP, 9000));
    assert.deepEqual(await dial(PEER, POD_IP, 4191), directToPod(POD_IP, 4191));
    assert.deepEqual(await dial(PEER, POD_IP, 4143), directToPod(POD_IP, 4143));
  });

  test('loopback and the pod talking to its own IP are untouched', async () => {
    assert.deepEqual(await dial(POD, '127.0.0.1', 9000), directToPod('127.0.0.1', 9000));
    assert.deepEqual(await dial(POD, POD_IP, 9000), directToPod(POD_IP, 9000));
  });

  test("the proxy dialling its own pod's IP reaches the inbound proxy, as a peer would; its skipped ports and 127.0.0.1 stay direct", async () => {
    assert.deepEqual(await dial(POD, POD_IP, 8080, PROXY_UID), viaPodProxy(4143, POD_IP, 8080));
    assert.deepEqual(await dial(POD, POD_IP6, 8080, PROXY_UID), { server: 'pod', port: 4143, original: { ip: POD_IP6, port: 8080, family: 6 } });
    assert.deepEqual(await dial(POD, POD_IP, 4143, PROXY_UID), directToPod(POD_IP, 4143));
    assert.deepEqual(await dial(POD, POD_IP, 9000, PROXY_UID), directToPod(POD_IP, 9000));
    assert.deepEqual(await dial(POD, '127.0.0.1', 9000, PROXY_UID), directToPod('127.0.0.1', 9000));
  });

  test('a rerun with other skipped ports replaces them instead of adding', async () => {
    const run = await skeinInit(POD, ARGS.map((a) => (a === '3306,5000-5010' ? '8080' : a)));
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(await dial(POD, PEER_IP, 8080), atPeer(8080));
    assert.deepEqual(await dial(POD, PEER_IP, 3306), viaPodProxy(4140, PEER_IP, 3306));
  });
});

describe('skein-init with the legacy backend', { skip: notRoot, timeout: 60_000 }, () => {
  const LEGACY = `sktest-init-legacy-${id}`;
  before(() => sh('ip', 'netns', 'add', LEGACY));
  after(() => sh('ip', 'netns', 'del', LEGACY).catch(() => undefined));

  test('writes with iptables-legacy when asked, and auto-detection then stays with legacy', async () => {
    const forced = await skeinInit(LEGACY, [...ARGS.filter((a) => a !== '--ipv6'), '--iptables-mode', 'legacy']);
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout, /applied with iptables-legacy-restore \(backend legacy, IPv4\)/);
    const detected = await skeinInit(LEGACY, ARGS.filter((a) => a !== '--ipv6'));
    assert.equal(detected.status, 0, detected.stderr);
    assert.match(detected.stdout, /backend legacy/);
    const legacy = await inNs(LEGACY, 'iptables-legacy-save', '-t', 'nat');
    assert.equal(legacy.split('\n').filter((l) => l.endsWith('-j SKEIN_OUTPUT')).length, 1);
    assert.equal(skeinRules(await inNs(LEGACY, 'iptables-nft-save', '-t', 'nat')).length, 0);
  });
});
