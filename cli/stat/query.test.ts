import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError } from '../errors.ts';
import { parseEdge, parseResource, parseWindow } from './query.ts';

const usage = (re: RegExp) => (e: unknown) => e instanceof CliError && e.code === 'usage' && re.test(e.message);

test('resources: kind aliases, kind/name or kind name', () => {
  assert.deepEqual(parseResource(['deploy']), { kind: 'deploy' });
  assert.deepEqual(parseResource(['deployments', 'web']), { kind: 'deploy', name: 'web' });
  assert.deepEqual(parseResource(['po/web-1']), { kind: 'pod', name: 'web-1' });
  assert.deepEqual(parseResource(['routes']), { kind: 'route' });
  assert.throws(() => parseResource([]), usage(/deploy, pod or route/));
  assert.throws(() => parseResource(['svc']), usage(/cannot stat "svc"/));
  assert.throws(() => parseResource(['deploy/a', 'b']), usage(/name once/));
});

test('edges take kind/name in a namespace', () => {
  assert.deepEqual(parseEdge('--to', 'deploy/web', 'demo'), { kind: 'deploy', name: 'web', namespace: 'demo' });
  assert.throws(() => parseEdge('--from', 'web', 'demo'), usage(/--from takes deploy\/NAME/));
  assert.throws(() => parseEdge('--to', 'route/x', 'demo'), usage(/--to takes/));
});

test('windows: units, bare seconds, at least 1 s', () => {
  assert.equal(parseWindow('30s'), 30);
  assert.equal(parseWindow('2m'), 120);
  assert.equal(parseWindow('15'), 15);
  assert.equal(parseWindow('1500ms'), 1.5);
  assert.throws(() => parseWindow('500ms'), usage(/at least 1s/));
  assert.throws(() => parseWindow('soon'), usage(/--window "soon"/));
});
