// ServiceProfile (skein.dev/v1alpha1, namespaced): the routes of one Service,
// how their responses are classified, which may be retried and how long
// they may take, and the retry budget. Field names and shapes are Linkerd's
// (linkerd.io/v1alpha2), so an existing profile moves over by changing only
// its apiVersion. The object is named after the Service's FQDN, e.g.
// books.shop.svc.cluster.local.
//
// Conditions nest (all/any/not), and a CRD's structural schema cannot
// recurse. The CRD types the first level exactly as Linkerd's CRD does and
// keeps the levels below as x-kubernetes-preserve-unknown-fields; the
// webhook (and the operator) parse the whole tree with `ServiceProfileSpec`,
// built by the same function with MAX_CONDITION_DEPTH typed levels, and
// refuse anything deeper. So kubectl explain shows the real shape, any
// Linkerd profile fits, and nothing unchecked reaches the proxy.
import { z } from 'zod';
import type { CrdDefinition } from './definition.ts';
import { PolicyStatus, statusColumns } from './conditions.ts';
import { pathRegexProblem, MAX_PATH_REGEX_LENGTH } from './path-regex.ts';
import { parsePortRanges } from '../port-ranges.ts';
import { parseSpec, type Parsed } from './problems.ts';
// Go's time.ParseDuration, as Linkerd reads timeout and ttl: 300ms, 2s, 1m30s, 1.5s.
import { parseDurationMs } from '../duration.ts';
import { messageOf } from '../errors.ts';

/** Levels of all/any/not below a route's condition that the webhook accepts. */
export const MAX_CONDITION_DEPTH = 5;

export const RETRY_BUDGET_DEFAULTS = { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' } as const;

/** A positive duration no longer than `max`; bounded so that it fits a Node timer (24.8 days). */
const goDuration = (what: string, max: string) => z.string().max(64).superRefine((v, ctx) => {
  const ms = v === v.trim() ? parseDurationMs(v) : undefined;
  if (ms === undefined) ctx.addIssue({ code: 'custom', message: `${what} "${v.slice(0, 64)}" is not a duration; write it like 300ms, 2s or 1m30s` });
  else if (ms <= 0 || ms > (parseDurationMs(max) ?? 0)) ctx.addIssue({ code: 'custom', message: `${what} must be more than 0 and at most ${max}; leave it out for the default` });
});

// Route names become metric labels and log fields: no control characters.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const PRINTABLE = /^[^\x00-\x1f\x7f]+$/;
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const httpMethod = z.string().min(1).max(32).regex(HTTP_TOKEN, { message: 'method must be an HTTP method such as GET, POST or DELETE' })
  .describe('HTTP method, e.g. GET');
const pathRegex = z.string().max(MAX_PATH_REGEX_LENGTH).superRefine((v, ctx) => {
  const problem = pathRegexProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `pathRegex ${JSON.stringify(v.slice(0, 80))}: ${problem}` });
}).describe('A JavaScript regular expression the whole request path must match, e.g. /books/[^/]+');

/** The levels below the typed ones: the CRD keeps them as written, the webhook refuses them. */
const opaqueLevel = z.record(z.string(), z.unknown()).meta({ 'x-kubernetes-preserve-unknown-fields': true });
const tooDeep = z.unknown().superRefine((_, ctx) => {
  ctx.addIssue({ code: 'custom', message: `conditions nest at most ${MAX_CONDITION_DEPTH} levels of all/any/not deep; flatten this one, e.g. all: [a, b, c] instead of all: [a, all: [b, c]]` });
});

const nonEmpty = (v: object) => Object.values(v).some((x) => x !== undefined);

/**
 * A match with `levels` typed levels of nesting below it; `leaf` stands for
 * the level after the last. Linkerd's Go type makes `not` one match and its
 * CRD a list of them; both are accepted (a list means none of them).
 */
function matchTree<S extends z.ZodRawShape>(own: S, what: string, levels: number, leaf: z.ZodType): z.ZodType {
  const child = levels === 0 ? leaf : matchTree(own, what, levels - 1, leaf);
  const not = levels === 0 && leaf === opaqueLevel
    ? z.unknown().meta({ 'x-kubernetes-preserve-unknown-fields': true })
    : z.union([child, z.array(child)]);
  return z.object({
    ...own,
    all: z.array(child).optional().describe(`Matches when every ${what} in the list matches`),
    any: z.array(child).optional().describe(`Matches when at least one ${what} in the list matches`),
    not: not.optional().describe(`Matches when the ${what} does not match`),
  }).refine(nonEmpty, { message: `a ${what} needs at least one field; an empty one would match everything` })
    .meta({ minProperties: 1 });
}

const statusRange = z.object({
  min: z.number().int().min(100).max(599).optional().describe('Lowest status code of the range, inclusive'),
  max: z.number().int().min(100).max(599).optional().describe('Highest status code of the range, inclusive'),
}).refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, { message: 'status.min is above status.max, so no response matches; swap them' })
  .describe('An HTTP status range, e.g. {min: 500, max: 599}');

const requestOwn = { method: httpMethod.optional(), pathRegex: pathRegex.optional() };
const responseOwn = { status: statusRange.optional() };

const ratioMessage = 'retryRatio must be between 0 and 1: 0.2 lets retries add 20 % to the requests; more than 1 would multiply load during an outage';

function spec(levels: number, leaf: z.ZodType) {
  const requestMatch = matchTree(requestOwn, 'request condition', levels, leaf);
  const responseMatch = matchTree(responseOwn, 'response condition', levels, leaf);
  const route = z.object({
    name: z.string().min(1).max(256).regex(PRINTABLE, { message: 'route name must be printable text, e.g. "GET /books/{id}"' })
      .describe('The route\'s name, the route label of its metrics, e.g. GET /books/{id}'),
    condition: requestMatch.describe('Which requests belong to this route: method, pathRegex, all, any, not'),
    responseClasses: z.array(z.object({
      condition: responseMatch.describe('Which responses belong to this class'),
      isFailure: z.boolean().optional().describe('Responses of this class count as failures (without classes, 5xx do)'),
    })).max(64).optional().describe('How responses of this route are classified; the first class that matches wins'),
    isRetryable: z.boolean().optional().describe('Failed requests of this route may be retried within the retry budget'),
    timeout: goDuration('timeout', '24h').optional().describe('How long a request of this route may take, e.g. 300ms or 2s; none when left out'),
  });
  return z.object({
    routes: z.array(route).max(512).superRefine((routes, ctx) => {
      const first = new Map<string, number>();
      routes.forEach((r, i) => {
        const earlier = first.get(r.name);
        if (earlier === undefined) first.set(r.name, i);
        else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `route name ${JSON.stringify(r.name.slice(0, 80))} is already used by routes[${earlier}]; route names label metrics, so give each route its own` });
      });
    }).optional().describe('The routes of the Service; a request takes the first route whose condition matches'),
    retryBudget: z.object({
      retryRatio: z.number().min(0, { message: ratioMessage }).max(1, { message: ratioMessage }).default(RETRY_BUDGET_DEFAULTS.retryRatio)
        .describe('Retries allowed as a share of original requests, 0 to 1 (0.2 = 20 %); above 1 retries would multiply load during an outage'),
      minRetriesPerSecond: z.number().int().min(0).max(100_000).default(RETRY_BUDGET_DEFAULTS.minRetriesPerSecond)
        .describe('Retries allowed each second whatever the ratio, so that low traffic can still be retried'),
      ttl: goDuration('retryBudget.ttl', '1h').default(RETRY_BUDGET_DEFAULTS.ttl).describe('The window over which retries and requests are counted, e.g. 10s'),
    }).optional().describe('How many retries the routes of this Service may add together; without it 0.2, 10/s over 10s'),
    dstOverrides: z.array(z.object({
      authority: z.string().min(1).max(512).describe('Where to send, e.g. books-v2.shop.svc.cluster.local:8080'),
      weight: z.union([z.string().max(32), z.number().int().min(0)]).meta({ 'x-kubernetes-int-or-string': true, description: 'Relative weight, a quantity such as 500m or 1' }),
    })).max(64).optional().describe('Send this Service\'s traffic to these authorities by weight instead (written by TrafficSplit adaptors)'),
    opaquePorts: z.array(z.string().max(16).superRefine((v, ctx) => {
      try {
        parsePortRanges(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `opaquePorts: ${messageOf(err)}` });
      }
    })).max(256).optional().describe('Ports whose traffic is proxied as opaque TCP, without protocol detection, e.g. "3306" or "8000-8010"'),
  });
}

/** The whole spec, every level typed and checked: what the webhook and the operator parse. */
export const ServiceProfileSpec = spec(MAX_CONDITION_DEPTH, tooDeep);
/** The spec as the CRD's OpenAPI schema: the first level typed, deeper levels kept as written. */
export const ServiceProfileCrdSpec = spec(0, opaqueLevel);

export interface RequestMatch { method?: string; pathRegex?: string; all?: RequestMatch[]; any?: RequestMatch[]; not?: RequestMatch | RequestMatch[] }
export interface ResponseMatch { status?: { min?: number; max?: number }; all?: ResponseMatch[]; any?: ResponseMatch[]; not?: ResponseMatch | ResponseMatch[] }
export interface ServiceProfileRoute {
  name: string;
  condition: RequestMatch;
  responseClasses?: { condition: ResponseMatch; isFailure?: boolean }[];
  isRetryable?: boolean;
  timeout?: string;
}
export interface ServiceProfileSpecValue {
  routes?: ServiceProfileRoute[];
  retryBudget?: { retryRatio: number; minRetriesPerSecond: number; ttl: string };
  dstOverrides?: { authority: string; weight: string | number }[];
  opaquePorts?: string[];
}

const DNS_LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
const SERVICE_FQDN = new RegExp(`^(${DNS_LABEL})\\.(${DNS_LABEL})\\.svc\\.${DNS_LABEL}(\\.${DNS_LABEL})*$`);

/** Why a profile's name is not the FQDN of a Service, if it is not. */
export function serviceProfileNameProblem(name: string): string | undefined {
  if (name.length <= 253 && SERVICE_FQDN.test(name)) return undefined;
  const shown = name.length > 80 ? `${name.slice(0, 80)}...` : name;
  return `metadata.name: ${JSON.stringify(shown)} is not a Service FQDN; name the profile <service>.<namespace>.svc.<cluster domain>, e.g. books.shop.svc.cluster.local`;
}

/** The spec a valid object yields, or the problems a user must fix, each with its field. */
export function parseServiceProfileSpec(spec: unknown): Parsed<ServiceProfileSpecValue> {
  return parseSpec(ServiceProfileSpec as z.ZodType<ServiceProfileSpecValue>, spec);
}

export const serviceProfileCrd: CrdDefinition = {
  group: 'skein.dev',
  names: { plural: 'serviceprofiles', singular: 'serviceprofile', kind: 'ServiceProfile', listKind: 'ServiceProfileList', shortNames: ['sp'], categories: ['skein'] },
  scope: 'Namespaced',
  storageVersion: 'v1alpha1',
  versions: { v1alpha1: ServiceProfileCrdSpec },
  status: true,
  statusSchema: PolicyStatus,
  printerColumns: [
    { name: 'Retry Ratio', type: 'number', jsonPath: '.spec.retryBudget.retryRatio' },
    ...statusColumns,
  ],
};
