// A control-plane component's settings from its environment, parsed with
// zod: each variable has its default and its grammar here, and a bad value
// stops the component at start with the variable's name and what to write,
// instead of a NaN port or a typo'd policy surfacing later.
import { z } from 'zod';
import { DefaultInboundPolicy } from '../../api/discovery-protocol.ts';
import { CONTROL_PLANE_NAMESPACE } from '../../api/mesh-names.ts';
import { SkeinError } from '../../api/errors.ts';
import { parseDurationMs } from '../../api/duration.ts';

export class SettingsError extends SkeinError {
  readonly code = 'invalid_settings';
  readonly problems: readonly { variable: string; message: string }[];
  constructor(component: string, problems: readonly { variable: string; message: string }[]) {
    super(`${component} settings: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
    this.problems = problems;
  }
}

type Setting<T> = z.ZodType<T, string | undefined>;

const withDefault = <T>(schema: z.ZodType<T, string>, fallback: string): Setting<T> =>
  z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? fallback : v.trim())).pipe(schema);

/** The grammars a control-plane variable can have. */
export const setting = {
  text: (fallback: string): Setting<string> => withDefault(z.string(), fallback),
  optionalText: (): Setting<string | undefined> => z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  port: (fallback: number): Setting<number> => withDefault(
    z.string().regex(/^\d{1,5}$/, 'must be a port number 1-65535').transform(Number).refine((p) => p >= 1 && p <= 65535, 'must be a port number 1-65535'),
    String(fallback),
  ),
  dnsName: (fallback: string): Setting<string> => withDefault(z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS name such as cluster.local'), fallback),
  /** A Go-style duration (30s, 2m, 8760h), in milliseconds. */
  duration: (fallback: string): Setting<number> => withDefault(
    z.string().transform((v, ctx) => {
      const ms = parseDurationMs(v);
      if (ms === undefined || ms <= 0) { ctx.addIssue({ code: 'custom', message: `must be a duration such as 30s, 5m or 8760h, not "${v.slice(0, 64)}"` }); return z.NEVER; }
      return ms;
    }),
    fallback,
  ),
  defaultInboundPolicy: (fallback: DefaultInboundPolicy): Setting<DefaultInboundPolicy> => withDefault(DefaultInboundPolicy, fallback),
  /** A comma-separated list, each item checked by `problem` (undefined when it is fine). */
  list: (fallback: readonly string[], problem: (item: string) => string | undefined): Setting<string[]> => withDefault(
    z.string().transform((v, ctx) => {
      const items = v.split(',').map((i) => i.trim()).filter((i) => i !== '');
      for (const item of items) {
        const p = problem(item);
        if (p) ctx.addIssue({ code: 'custom', message: p });
      }
      return items;
    }),
    fallback.join(','),
  ),
};

/** What every control-plane component reads: where it runs and which mesh it serves. */
export const COMMON_SETTINGS = {
  POD_NAMESPACE: setting.text(CONTROL_PLANE_NAMESPACE),
  /** The leader-election identity; the kubelet sets HOSTNAME to the pod name too. */
  POD_NAME: setting.optionalText(),
  HOSTNAME: setting.optionalText(),
  SKEIN_TRUST_DOMAIN: setting.dnsName('cluster.local'),
  SKEIN_CLUSTER_DOMAIN: setting.dnsName('cluster.local'),
};

/** Parses `env` with `shape`; throws a SettingsError naming every bad variable. */
export function readSettings<S extends Record<string, Setting<unknown>>>(component: string, shape: S, env: NodeJS.ProcessEnv): { [K in keyof S]: z.output<S[K]> } {
  const parsed = z.object(shape).safeParse(env);
  if (parsed.success) return parsed.data as { [K in keyof S]: z.output<S[K]> };
  throw new SettingsError(component, parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'environment'), message: i.message })));
}
