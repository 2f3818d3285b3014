import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalPath, parseLdd, relativeLink, without, type Tree } from './tree.ts';

test('ldd output gives each loaded library once, the loader too, not the vdso', () => {
  const out = `\tlinux-vdso.so.1 (0x00007ffd)\n\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f39)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f39)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f39)\n`;
  assert.deepEqual(parseLdd(out).map((l) => l.path), ['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
});

test('paths under merged-/usr links are stored under /usr, links are relative', () => {
  assert.equal(canonicalPath('/lib/x86_64-linux-gnu/libc.so.6'), '/usr/lib/x86_64-linux-gnu/libc.so.6');
  assert.equal(canonicalPath('/usr/bin/node'), '/usr/bin/node');
  assert.equal(relativeLink('/usr/local/bin/skein-proxy', '/opt/skein/skein-proxy.mjs'), '../../../opt/skein/skein-proxy.mjs');
});

test('a layer holds only what the layers under it lack', () => {
  const base: Tree = new Map([['/usr/lib/libc.so.6', { kind: 'file', from: '/x/libc', mode: 0o644 }]]);
  const upper: Tree = new Map([['/usr/lib/libc.so.6', { kind: 'file', from: '/x/libc', mode: 0o644 }], ['/usr/sbin/iptables', { kind: 'symlink', target: 'xtables-nft-multi' }]]);
  assert.deepEqual([...without(upper, base).keys()], ['/usr/sbin/iptables']);
});
