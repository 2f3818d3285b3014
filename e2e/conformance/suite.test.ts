import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConformanceError, formatSummary, missingProfiles, suiteArgs, summarizeReport, SUPPORTED_FEATURES } from './suite.ts';

// The shape sigs.k8s.io/yaml gives the suite's ConformanceReport (conformance/apis/v1):
// Statistics has no json tags, so its keys are Go's field names.
const REPORT = `apiVersion: gateway.networking.k8s.io/v1
date: "2026-12-07T19:30:00Z"
gatewayAPIChannel: standard
gatewayAPIVersion: v1.7.0
implementation:
  contact:
  - https://github.com/skein-dev/skein/issues
  organization: skein-dev
  project: skein
  url: https://github.com/skein-dev/skein
  version: v0.1.0
kind: ConformanceReport
mode: default
profiles:
- core:
    failedTests:
    - MeshHTTPRouteMatching
    result: failure
    statistics:
      Failed: 1
      Passed: 5
      Skipped: 0
  extended:
    result: partial
    skippedTests:
    - MeshHTTPRouteNamedRule
    statistics:
      Failed: 0
      Passed: 4
      Skipped: 1
    supportedFeatures:
    - MeshConsumerRoute
    unsupportedFeatures:
    - MeshHTTPRouteNamedRouteRule
  name: MESH-HTTP
  summary: Core tests failed with 1 test failures.
- core:
    result: success
    statistics:
      Failed: 0
      Passed: 2
      Skipped: 0
  name: MESH-GRPC
  summary: Core tests succeeded.
`;

test('a report reads as one summary per profile: counts of core and extended together, the worse result, the failed tests', () => {
  const s = summarizeReport(REPORT);
  assert.equal(s.gatewayAPIVersion, 'v1.7.0');
  assert.equal(s.implementation, 'skein v0.1.0');
  const [http, grpc] = s.profiles;
  assert.deepEqual({ name: http!.name, result: http!.result, passed: http!.passed, failed: http!.failed, skipped: http!.skipped }, { name: 'MESH-HTTP', result: 'failure', passed: 9, failed: 1, skipped: 1 });
  assert.deepEqual(http!.failedTests, ['MeshHTTPRouteMatching']);
  assert.deepEqual(http!.skippedTests, ['MeshHTTPRouteNamedRule']);
  assert.deepEqual(http!.extended?.unsupported, ['MeshHTTPRouteNamedRouteRule']);
  assert.deepEqual({ name: grpc!.name, result: grpc!.result, passed: grpc!.passed, failed: grpc!.failed }, { name: 'MESH-GRPC', result: 'success', passed: 2, failed: 0 });
  assert.equal(grpc!.extended, undefined);
  const text = formatSummary(s);
  assert.match(text, /^MESH-HTTP: failure — 9 passed, 1 failed, 1 skipped \(core failure 5\/1\/0; extended partial 4\/0\/1/m);
  assert.match(text, /^ {2}failed: MeshHTTPRouteMatching$/m);
  assert.match(text, /^MESH-GRPC: success — 2 passed, 0 failed, 0 skipped/m);
});

test('a profile asked for but absent from the report is named (it ran no test)', () => {
  assert.deepEqual(missingProfiles(summarizeReport(REPORT), ['MESH-HTTP', 'MESH-GRPC', 'GATEWAY-HTTP']), ['GATEWAY-HTTP']);
});

test('a report that is not the suite\'s says what is wrong with it', () => {
  const bad = (text: string, re: RegExp) => assert.throws(() => summarizeReport(text), (err: unknown) => err instanceof ConformanceError && err.code === 'bad_report' && re.test(err.message));
  bad('profiles: [', /not YAML/);
  bad('kind: ConformanceReport\n', /no profiles list/);
  bad('- a\n', /the report is not a mapping/);
  bad('profiles:\n- name: MESH-HTTP\n  core: {statistics: {Passed: 1}}\n', /MESH-HTTP\.core\.result is missing/);
});

test('the suite is asked for the mesh profiles, every claimed feature, injection on its namespaces and a report', () => {
  const args = suiteArgs({ reportPath: '/tmp/r.yaml', timeout: '60m', implementation: { organization: 'o', project: 'p', url: 'https://x.test', version: 'v1', contact: ['a', 'b'] } });
  assert.deepEqual(args.slice(0, 4), ['-test.run', '^TestConformance$', '-test.v', '-test.timeout=60m']);
  assert.ok(args.includes('--conformance-profiles=MESH-HTTP,MESH-GRPC'));
  assert.ok(args.includes('--namespace-annotations=skein.dev/inject=enabled'));
  assert.ok(args.includes('--report-output=/tmp/r.yaml'));
  assert.ok(args.includes('--contact=a,b'));
  assert.ok(args.includes(`--supported-features=${Object.keys(SUPPORTED_FEATURES).join(',')}`));
});

test('a named subset becomes go test\'s filter on the suite\'s subtests; a name that is not a test\'s is refused', () => {
  const impl = { organization: 'o', project: 'p', url: 'https://x.test', version: 'v1', contact: ['a'] };
  assert.deepEqual(suiteArgs({ reportPath: 'r', timeout: '5m', tests: ['MeshBasic', 'MeshTrafficSplit'], implementation: impl }).slice(0, 2), ['-test.run', '^TestConformance$/^(MeshBasic|MeshTrafficSplit)$']);
  assert.throws(() => suiteArgs({ reportPath: 'r', timeout: '5m', tests: ['MeshBasic', 'a|.*'], implementation: impl }), (err: unknown) => err instanceof ConformanceError && err.code === 'bad_input' && /a\|\.\*: not a conformance test's short name/.test(err.message));
});
