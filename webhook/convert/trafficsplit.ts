// SMI TrafficSplit across v1alpha1..v1alpha4, through one internal form.
// v1alpha1 weights are quantities ("500m", "1"), later versions integers:
// the internal weight is the quantity in milli-units, which keeps every ratio.
// v1alpha3+ `matches` have no place in v1alpha1/2; converting down keeps them
// in an annotation so converting back up loses nothing.
import { milliToQuantity, quantityToMilli } from '../../api/quantity.ts';
import { SkeinError } from '../../api/errors.ts';

export const VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'] as const;
export type Version = (typeof VERSIONS)[number];
export const GROUP = 'split.smi-spec.io';
export const MATCHES_ANNOTATION = 'split.smi-spec.io/matches';
/** Set when integer weights count thousandths (a v1alpha1 split had fractional quantities). */
export const SCALE_ANNOTATION = 'split.smi-spec.io/weight-scale';

interface Match { kind: string; name: string; apiGroup?: string }
interface Internal {
  metadata: { annotations?: Record<string, string>; [k: string]: unknown };
  service: string;
  backends: { service: string; milli: number }[];
  matches: Match[] | undefined;
  rest: Record<string, unknown>;
}

export class ConversionError extends SkeinError {
  readonly code = 'conversion_failed';
}

function weightMilli(q: string | number): number {
  try {
    return quantityToMilli(q);
  } catch {
    throw new ConversionError(`weight "${String(q)}" is not a quantity such as 500m or 1`);
  }
}

function versionOf(apiVersion: unknown): Version {
  const v = typeof apiVersion === 'string' ? apiVersion.split('/')[1] : undefined;
  if (!v || !(VERSIONS as readonly string[]).includes(v) || !String(apiVersion).startsWith(`${GROUP}/`)) {
    throw new ConversionError(`apiVersion "${String(apiVersion)}" is not one of ${VERSIONS.map((x) => `${GROUP}/${x}`).join(', ')}`);
  }
  return v as Version;
}

type Obj = Record<string, unknown> & { apiVersion?: unknown; metadata?: Internal['metadata']; spec?: Record<string, unknown> };

function toInternal(obj: Obj): Internal {
  const from = versionOf(obj.apiVersion);
  const spec = obj.spec ?? {};
  const { service, backends, matches, ...restSpec } = spec as { service?: unknown; backends?: unknown; matches?: unknown };
  if (typeof service !== 'string') throw new ConversionError('spec.service must be the name of the root Service');
  if (!Array.isArray(backends)) throw new ConversionError('spec.backends must be a list');
  const metadata = structuredClone(obj.metadata ?? {});
  const unit = metadata.annotations?.[SCALE_ANNOTATION] === 'milli' ? 1 : 1000;
  if (metadata.annotations?.[SCALE_ANNOTATION] !== undefined) delete metadata.annotations[SCALE_ANNOTATION];
  const internal: Internal = {
    metadata,
    service,
    backends: backends.map((b: { service?: unknown; weight?: unknown }, i) => {
      if (typeof b.service !== 'string') throw new ConversionError(`spec.backends[${i}].service must be a Service name`);
      const w = b.weight;
      if (from === 'v1alpha1') {
        if (typeof w !== 'string' && typeof w !== 'number') throw new ConversionError(`spec.backends[${i}].weight must be a quantity`);
        return { service: b.service, milli: weightMilli(w) };
      }
      if (typeof w !== 'number' || !Number.isInteger(w) || w < 0) throw new ConversionError(`spec.backends[${i}].weight must be a non-negative integer`);
      return { service: b.service, milli: w * unit };
    }),
    matches: undefined,
    rest: restSpec,
  };
  if (from === 'v1alpha3' || from === 'v1alpha4') {
    internal.matches = Array.isArray(matches) ? matches as Match[] : undefined;
  } else if (metadata.annotations?.[MATCHES_ANNOTATION]) {
    internal.matches = JSON.parse(metadata.annotations[MATCHES_ANNOTATION]) as Match[];
    delete metadata.annotations[MATCHES_ANNOTATION];
  }
  if (metadata.annotations && Object.keys(metadata.annotations).length === 0) delete metadata.annotations;
  return internal;
}

function fromInternal(i: Internal, to: Version, kind: string): Obj {
  const metadata = structuredClone(i.metadata);
  // Integer weights are relative: whole units when every weight allows it, else thousandths, said in an annotation.
  const whole = i.backends.every((b) => b.milli % 1000 === 0);
  if (to !== 'v1alpha1' && !whole) metadata.annotations = { ...(metadata.annotations ?? {}), [SCALE_ANNOTATION]: 'milli' };
  const spec: Record<string, unknown> = {
    ...i.rest,
    service: i.service,
    backends: i.backends.map((b) => ({
      service: b.service,
      weight: to === 'v1alpha1' ? milliToQuantity(b.milli) : whole ? b.milli / 1000 : b.milli,
    })),
  };
  if (i.matches !== undefined) {
    if (to === 'v1alpha3' || to === 'v1alpha4') spec.matches = i.matches;
    else metadata.annotations = { ...(metadata.annotations ?? {}), [MATCHES_ANNOTATION]: JSON.stringify(i.matches) };
  }
  return { apiVersion: `${GROUP}/${to}`, kind, metadata, spec };
}

export function convert(obj: Obj, desiredApiVersion: string): Obj {
  const to = versionOf(desiredApiVersion);
  if (versionOf(obj.apiVersion) === to) return obj;
  const converted = fromInternal(toInternal(obj), to, typeof obj.kind === 'string' ? obj.kind : 'TrafficSplit');
  // The status has one shape in every version: carried over as it is.
  return obj.status === undefined ? converted : { ...converted, status: structuredClone(obj.status) };
}
