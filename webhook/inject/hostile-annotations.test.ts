// Hostile values on skein's config annotations: huge, unicode look-alikes,
// JSON-pointer characters, port lists that would become thousands of
// iptables rules. Each is either used as written (normalised) or reported
// naming the annotation with the default used; the JSON patch always applies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch } from 'rfc6902';
import type { V1Pod } from '@kubernetes/client-node';
import { injectPod } from './inject.ts';
import { DEFAULTS, MAX_PORT_RANGES, resolveConfig } from './config.ts';
import { mergePortRanges } from '../../api/port-ranges.ts';

const ONE_TO = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1)).join(',');
const EVERY_OTHER = (n: number) => Array.from({ length: n }, (_, i) => String(2 * i + 1)).join(',');

test('port lists are merged: neighbours and overlaps become one range, in order', () => {
  assert.deepEqual(mergePortRanges([{ from: 3, to: 3 }, { from: 1, to: 1 }, { from: 2, to: 2 }, { from: 10, to: 20 }, { from: 15, to: 25 }, { from: 27, to: 27 }]),
    [{ from: 1, to: 3 }, { from: 10, to: 25 }, { from: 27, to: 27 }]);
  assert.deepEqual(mergePortRanges([]), []);
});

const cases: [string, string, string, (c: typeof DEFAULTS) => void, RegExp | undefined][] = [
  // [annotation, value, what, check on the config, the problem's message or undefined when used]
  ['skip-inbound-ports', ONE_TO(40_000), '"1,2,…,40000" (~230 KiB)', (c) => assert.deepEqual(c.skipInboundPorts, [{ from: 1, to: 40_000 }]), undefined],
  ['skip-outbound-ports', EVERY_OTHER(MAX_PORT_RANGES + 1), 'more separate ports than allowed', (c) => assert.deepEqual(c.skipOutboundPorts, []), /65 separate ports or ranges; at most 64/],
  ['opaque-ports', '３３０６', 'full-width digits', (c) => assert.deepEqual(c.opaquePorts, DEFAULTS.opaquePorts), /is not a port/],
  ['opaque-ports', '~1/~0', 'JSON-pointer characters', (c) => assert.deepEqual(c.opaquePorts, DEFAULTS.opaquePorts), /is not a port/],
  ['proxy-cpu-request', '１００m', 'full-width digits', (c) => assert.equal(c.cpuRequest, DEFAULTS.cpuRequest), /Kubernetes quantity/],
  ['proxy-memory-limit', `128Mi\n${'x'.repeat(250_000)}`, 'huge and multi-line', (c) => assert.equal(c.memoryLimit, DEFAULTS.memoryLimit), /Kubernetes quantity/],
  ['proxy-log-level', 'dеbug', 'a Cyrillic look-alike letter', (c) => assert.equal(c.logLevel, DEFAULTS.logLevel), /expected one of/i],
  ['proxy-image', 'evil.example/proxy:1 --privileged', 'spaces in an image', (c) => assert.equal(c.image, DEFAULTS.image), /image reference/],
  ['proxy-image', 'registry.example/a~b/proxy:1', 'JSON-pointer characters in an image', (c) => assert.equal(c.image, DEFAULTS.image), /image reference/],
  ['shutdown-grace-period', '٣٠s', 'Arabic-Indic digits', (c) => assert.equal(c.shutdownGracePeriodSeconds, DEFAULTS.shutdownGracePeriodSeconds), /whole seconds/],
];

for (const [name, value, what, check, problem] of cases) {
  test(`config.skein.dev/${name}: ${what} is ${problem ? 'reported by name, default used' : 'used, normalised'}; the patch applies`, () => {
    const annotation = `config.skein.dev/${name}`;
    const { config, problems } = resolveConfig(undefined, { [annotation]: value });
    check(config);
    if (problem) {
      assert.equal(problems.length, 1);
      assert.equal(problems[0]?.annotation, annotation);
      assert.match(problems[0]?.message ?? '', problem);
      assert.ok((problems[0]?.value.length ?? 0) <= 80, 'the value is cut in the message');
    } else {
      assert.deepEqual(problems, []);
    }
    const pod: V1Pod = { metadata: { name: 'h', annotations: { 'skein.dev/inject': 'enabled', [annotation]: value, 'example.com/odd': '~1/~0 ünïcödé' } }, spec: { containers: [{ name: 'app', image: 'x' }] } };
    const r = injectPod(pod, undefined, 'shop');
    assert.equal(r.decision.inject, true);
    const patched = structuredClone(pod);
    assert.deepEqual(applyPatch(patched, r.patch).filter((e) => e !== null), [], 'every patch operation applies');
    assert.equal(patched.metadata?.annotations?.[annotation], value, 'the annotation is left as written');
    assert.equal(patched.metadata?.annotations?.['example.com/odd'], '~1/~0 ünïcödé');
    for (const w of r.warnings) assert.ok(w.includes(annotation) && w.length < 600, `a short warning naming the annotation: ${w.slice(0, 100)}`);
    // The whole patch stays small: a huge value never multiplies into env vars and init arguments.
    assert.ok(JSON.stringify(r.patch).length < 20_000, `patch of ${JSON.stringify(r.patch).length} bytes`);
  });
}
