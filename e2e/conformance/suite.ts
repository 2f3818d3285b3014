// What Skein tells the Gateway API conformance suite (its flags, read from
// sigs.k8s.io/gateway-api/conformance/utils/flags of the pinned version) and
// what its report (the suite's ConformanceReport YAML) says, per profile.
// Pure: e2e/conformance/run.ts does the running.
import { parse } from 'yaml';

export const PROFILES = ['MESH-HTTP', 'MESH-GRPC'] as const;

/**
 * The features Skein claims beyond each profile's core (Mesh, HTTPRoute,
 * GRPCRoute, which a profile enables by itself). A test runs only when every
 * feature it names is claimed; the report lists the profile's other extended
 * features as unsupported and skips their tests. Each entry is something the
 * proxy does for an HTTPRoute whose parentRef is a Service (docs/gateway-api.md).
 * Not claimed: MeshHTTPRouteBackendRequestHeaderModification (filters on a
 * backendRef are refused, the route Accepted False / UnsupportedValue).
 */
export const SUPPORTED_FEATURES: Readonly<Record<string, string>> = {
  MeshClusterIPMatching: 'a request to the Service\'s ClusterIP (not only its name) takes its routes',
  MeshConsumerRoute: 'a route in the client\'s namespace applies to that namespace\'s clients',
  MeshHTTPRouteQueryParamMatching: 'matches on query parameters',
  MeshHTTPRouteNamedRouteRule: 'rules with a name',
  MeshHTTPRouteRewritePath: 'URLRewrite with a path',
  MeshHTTPRouteSchemeRedirect: 'RequestRedirect with a scheme',
  MeshHTTPRouteRedirectPort: 'RequestRedirect with a port',
  MeshHTTPRouteRedirectPath: 'RequestRedirect with a path',
  HTTPRoute303RedirectStatusCode: 'RequestRedirect with statusCode 303 (the Mesh 303 redirect test needs it)',
  HTTPRoute307RedirectStatusCode: 'RequestRedirect with statusCode 307',
  HTTPRoute308RedirectStatusCode: 'RequestRedirect with statusCode 308',
  HTTPRouteResponseHeaderModification: 'ResponseHeaderModifier (MeshFrontend, MeshPorts and MeshConsumerRoute check it)',
  HTTPRouteParentRefPort: 'a parentRef with a port applies to that port of the Service only (MeshPorts)',
};

export const NAMESPACE_ANNOTATIONS = { 'skein.dev/inject': 'enabled' } as const;

export interface Implementation { organization: string; project: string; url: string; version: string; contact: readonly string[] }

const TEST_NAME = /^[A-Z][A-Za-z0-9]*$/;

export interface SuiteRun {
  reportPath: string;
  implementation: Implementation;
  profiles?: readonly string[];
  features?: readonly string[];
  /** Only these tests (short names, e.g. MeshBasic): go test's own filter on the suite's subtests, so the report counts only them. */
  tests?: readonly string[];
  /** go test's own deadline for the whole run, e.g. "50m". */
  timeout: string;
}

export class ConformanceError extends Error {
  readonly code: 'bad_input' | 'bad_report' | 'missing_profile' | 'no_cluster' | 'suite_failed' | 'build_failed';
  constructor(code: ConformanceError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

const pairs = (o: Readonly<Record<string, string>>): string => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(',');

/** The test binary's arguments: go test's own (-test.*), then the suite's flags. */
export function suiteArgs(run: SuiteRun): string[] {
  const { implementation: impl } = run;
  const odd = (run.tests ?? []).filter((t) => !TEST_NAME.test(t));
  if (odd.length > 0) throw new ConformanceError('bad_input', `${odd.join(', ')}: not a conformance test's short name (such as MeshBasic or MeshHTTPRouteMatching)`);
  return [
    '-test.run', run.tests && run.tests.length > 0 ? `^TestConformance$/^(${run.tests.join('|')})$` : '^TestConformance$', '-test.v', `-test.timeout=${run.timeout}`,
    `--conformance-profiles=${(run.profiles ?? PROFILES).join(',')}`,
    `--supported-features=${(run.features ?? Object.keys(SUPPORTED_FEATURES)).join(',')}`,
    `--namespace-annotations=${pairs(NAMESPACE_ANNOTATIONS)}`,
    `--report-output=${run.reportPath}`,
    `--organization=${impl.organization}`, `--project=${impl.project}`, `--url=${impl.url}`, `--version=${impl.version}`, `--contact=${impl.contact.join(',')}`,
  ];
}

export interface Counts { passed: number; failed: number; skipped: number }

export interface ProfileSummary extends Counts {
  name: string;
  /** success, partial or failure, as the suite judged core and extended together (the worse of the two). */
  result: string;
  core: Counts & { result: string };
  extended?: Counts & { result: string; supported: string[]; unsupported: string[] };
  failedTests: string[];
  skippedTests: string[];
}

export interface ReportSummary { gatewayAPIVersion: string; mode: string; implementation: string; profiles: ProfileSummary[] }

const RANK: Record<string, number> = { success: 0, partial: 1, failure: 2 };

function record(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConformanceError('bad_report', `${where} is not a mapping`);
  return v as Record<string, unknown>;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function status(v: unknown, where: string): Counts & { result: string; failed_: string[]; skipped_: string[] } {
  const s = record(v, where);
  if (typeof s.result !== 'string') throw new ConformanceError('bad_report', `${where}.result is missing`);
  // The suite's Statistics struct has no json tags: its keys are Go's field names.
  const stats = record(s.statistics ?? {}, `${where}.statistics`);
  const n = (k: string): number => Number(stats[k] ?? stats[k.toLowerCase()] ?? 0);
  return { result: s.result, passed: n('Passed'), failed: n('Failed'), skipped: n('Skipped'), failed_: strings(s.failedTests), skipped_: strings(s.skippedTests) };
}

/** The report's YAML, profile by profile: counts, result and the failed tests' names. */
export function summarizeReport(text: string): ReportSummary {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConformanceError('bad_report', `the report is not YAML: ${(err as Error).message}`);
  }
  const r = record(doc, 'the report');
  if (!Array.isArray(r.profiles)) throw new ConformanceError('bad_report', 'the report has no profiles list (was the suite run with --conformance-profiles?)');
  const impl = record(r.implementation ?? {}, 'implementation');
  const profiles = r.profiles.map((p, i): ProfileSummary => {
    const prof = record(p, `profiles[${i}]`);
    const name = typeof prof.name === 'string' ? prof.name : `profiles[${i}]`;
    const core = status(prof.core, `${name}.core`);
    const ext = prof.extended === undefined ? undefined : { ...status(prof.extended, `${name}.extended`), supported: strings(record(prof.extended, `${name}.extended`).supportedFeatures), unsupported: strings(record(prof.extended, `${name}.extended`).unsupportedFeatures) };
    const parts = ext ? [core, ext] : [core];
    const worst = parts.map((x) => x.result).sort((a, b) => (RANK[b] ?? 3) - (RANK[a] ?? 3))[0] ?? core.result;
    return {
      name, result: worst,
      passed: parts.reduce((a, x) => a + x.passed, 0), failed: parts.reduce((a, x) => a + x.failed, 0), skipped: parts.reduce((a, x) => a + x.skipped, 0),
      core: { result: core.result, passed: core.passed, failed: core.failed, skipped: core.skipped },
      ...(ext ? { extended: { result: ext.result, passed: ext.passed, failed: ext.failed, skipped: ext.skipped, supported: ext.supported, unsupported: ext.unsupported } } : {}),
      failedTests: parts.flatMap((x) => x.failed_),
      skippedTests: parts.flatMap((x) => x.skipped_),
    };
  });
  return {
    gatewayAPIVersion: str(r.gatewayAPIVersion), mode: str(r.mode),
    implementation: `${str(impl.project)} ${str(impl.version)}`.trim(), profiles,
  };
}

/** Every profile asked for must be in the report: a missing one ran no test and must not read as a pass. */
export function missingProfiles(summary: ReportSummary, asked: readonly string[]): string[] {
  return asked.filter((name) => !summary.profiles.some((p) => p.name === name));
}

/** One line per profile, then the failed tests under it. */
export function formatSummary(summary: ReportSummary): string {
  const lines: string[] = [];
  for (const p of summary.profiles) {
    const ext = p.extended ? `; extended ${p.extended.result} ${p.extended.passed}/${p.extended.failed}/${p.extended.skipped}` : '';
    lines.push(`${p.name}: ${p.result} — ${p.passed} passed, ${p.failed} failed, ${p.skipped} skipped (core ${p.core.result} ${p.core.passed}/${p.core.failed}/${p.core.skipped}${ext}; passed/failed/skipped)`);
    for (const t of p.failedTests) lines.push(`  failed: ${t}`);
    if (p.extended && p.extended.unsupported.length > 0) lines.push(`  not claimed (their tests skipped): ${p.extended.unsupported.join(', ')}`);
  }
  return lines.join('\n');
}
