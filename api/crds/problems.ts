// A spec parsed by its zod schema into the value, or into problems a user
// reads: each starts with the field as it is written in YAML
// (spec.routes[0].condition.pathRegex), then what to write instead. The
// webhook denies with these and the operator reports them in status, so
// both say the same words.
import type { z } from 'zod';

export type Parsed<T> = { ok: true; spec: T } | { ok: false; problems: string[] };

/** A zod path as a user reads it in YAML: spec.routes[0].condition.pathRegex. */
export function fieldPath(root: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : `${p}.${String(k)}`), root);
}

export function parseSpec<T>(schema: z.ZodType<T>, spec: unknown): Parsed<T> {
  const r = schema.safeParse(spec ?? {});
  if (r.success) return { ok: true, spec: r.data };
  return { ok: false, problems: r.error.issues.map((i) => `${fieldPath('spec', i.path)}: ${i.message}`) };
}
