// SMI HTTPRouteGroup (specs.smi-spec.io): named HTTP request matches that a
// TrafficSplit's `matches` refers to, so that only those requests are split
// (A/B testing: Flagger writes one with a header match). Served at v1alpha3
// and v1alpha4, the versions TrafficSplit v1alpha3/v1alpha4 pair with; both
// have the same shape, so the API server converts between them without a
// webhook. Regexes run in the proxy on every request, so pathRegex and the
// header regexes pass the same backtracking check as ServiceProfile routes.
import { z } from 'zod';
import type { CrdDefinition } from './definition.ts';
import { pathRegexProblem, MAX_PATH_REGEX_LENGTH } from './path-regex.ts';
import { parseSpec, type Parsed } from './problems.ts';

const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** SMI's wildcard method: any method matches. */
export const ANY_METHOD = '*';

const safeRegex = (what: string) => z.string().max(MAX_PATH_REGEX_LENGTH).superRefine((v, ctx) => {
  const problem = pathRegexProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${JSON.stringify(v.slice(0, 80))}: ${problem}` });
});

const method = z.string().min(1).max(32).regex(HTTP_TOKEN, { message: 'method must be an HTTP method such as GET or POST, or * for any' })
  .describe('HTTP method, e.g. GET; * matches any');

const httpMatch = z.object({
  name: z.string().min(1).max(253).describe('The match\'s name, unique in the group'),
  methods: z.array(method).max(16).optional().describe('The request\'s method is one of these; any method when left out'),
  pathRegex: safeRegex('pathRegex').optional().describe('A JavaScript regular expression the whole request path (without the query) must match, e.g. /api/.*'),
  headers: z.record(z.string(), safeRegex('header regex')).superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (name.length > 256 || !HTTP_TOKEN.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `${JSON.stringify(name.slice(0, 80))} is not a header name; write a token such as x-canary or user-agent` });
    }
  }).optional().describe('Header name to a JavaScript regular expression its whole value must match, e.g. x-canary: "yes"'),
});
export type HTTPMatch = z.infer<typeof httpMatch>;

export const HTTPRouteGroupSpec = z.object({
  matches: z.array(httpMatch).max(64).superRefine((matches, ctx) => {
    const first = new Map<string, number>();
    matches.forEach((m, i) => {
      const earlier = first.get(m.name);
      if (earlier === undefined) first.set(m.name, i);
      else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `match name ${JSON.stringify(m.name.slice(0, 80))} is already used by matches[${earlier}]; give each match its own name` });
    });
  }).optional().describe('The requests this group stands for: a request belongs to the group when it satisfies at least one match'),
});
export type HTTPRouteGroupSpecValue = z.infer<typeof HTTPRouteGroupSpec>;

/** The spec a valid object yields, or the problems a user must fix, each with its field. */
export function parseHTTPRouteGroupSpec(spec: unknown): Parsed<HTTPRouteGroupSpecValue> {
  return parseSpec(HTTPRouteGroupSpec, spec);
}

export const httpRouteGroupCrd: CrdDefinition = {
  group: 'specs.smi-spec.io',
  names: { plural: 'httproutegroups', singular: 'httproutegroup', kind: 'HTTPRouteGroup', listKind: 'HTTPRouteGroupList', shortNames: ['htr'], categories: ['smi', 'skein'] },
  scope: 'Namespaced',
  storageVersion: 'v1alpha4',
  versions: { v1alpha3: HTTPRouteGroupSpec, v1alpha4: HTTPRouteGroupSpec },
};
