import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMPILE_CACHE_DIR, parseNodeRuntime, proxyCommand, proxyNodeRuntime } from './node-runtime.ts';

test('flags and environment lines are told apart; comments and blanks skipped', () => {
  assert.deepEqual(parseNodeRuntime('# why\n--max-semi-space-size=2\n\n  MALLOC_ARENA_MAX=2  \n--stack-size=900\n'), {
    flags: ['--max-semi-space-size=2', '--stack-size=900'],
    env: { MALLOC_ARENA_MAX: '2' },
  });
});

test('a line that is neither is refused with its line number', () => {
  assert.throws(() => parseNodeRuntime('--a\nmax-semi-space-size 2\n'), /:2: "max-semi-space-size 2" is neither/);
});

test('the shipped file parses, and the command puts environment, node, flags and entry in order', () => {
  const r = proxyNodeRuntime();
  assert.ok(r.flags.length > 0);
  assert.equal(r.env.NODE_COMPILE_CACHE, COMPILE_CACHE_DIR);
  const argv = proxyCommand('/x/main.ts', '/bin/node');
  const nodeAt = argv.indexOf('/bin/node');
  assert.equal(argv[0], '/usr/bin/env');
  assert.deepEqual(argv.slice(nodeAt + 1), [...r.flags, '/x/main.ts']);
  assert.ok(argv.slice(1, nodeAt).every((a) => /^[A-Z_]+=/.test(a)));
});
