// /convert: ConversionReview (apiextensions.k8s.io/v1) for Skein's
// multi-version CRDs. A failure converts nothing and says why; the API server
// then refuses the request that needed it.
import { z } from 'zod';
import { convert as convertTrafficSplit, ConversionError } from './convert/trafficsplit.ts';
import { SkeinError } from '../api/errors.ts';

const ConversionReviewSchema = z.object({
  apiVersion: z.literal('apiextensions.k8s.io/v1', { error: 'apiVersion must be apiextensions.k8s.io/v1' }),
  kind: z.literal('ConversionReview', { error: 'kind must be ConversionReview' }),
  request: z.object({
    uid: z.string().min(1, 'request.uid is required'),
    desiredAPIVersion: z.string().min(1, 'request.desiredAPIVersion is required'),
    objects: z.array(z.record(z.string(), z.unknown())),
  }),
});

export class BadConversionReview extends SkeinError {
  readonly code = 'bad_conversion_review';
}

type Obj = Record<string, unknown>;
const CONVERTERS: Record<string, (o: Obj, to: string) => Obj> = {
  'split.smi-spec.io/TrafficSplit': convertTrafficSplit,
};

export function handleConversion(body: unknown): Obj {
  const parsed = ConversionReviewSchema.safeParse(body);
  if (!parsed.success) {
    throw new BadConversionReview(`not a ConversionReview: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ')}`);
  }
  const { uid, desiredAPIVersion, objects } = parsed.data.request;
  const response = (result: Obj, convertedObjects: Obj[] = []) => ({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', response: { uid, convertedObjects, result } });
  try {
    const converted = objects.map((o, i) => {
      const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
      const kind = typeof o.kind === 'string' ? o.kind : '';
      const converter = CONVERTERS[`${apiVersion.split('/')[0] ?? ''}/${kind}`];
      if (!converter) throw new ConversionError(`objects[${i}]: no conversion for ${apiVersion || '(no apiVersion)'} ${kind || '(no kind)'}`);
      return converter(o, desiredAPIVersion);
    });
    return response({ status: 'Success' }, converted);
  } catch (err) {
    if (!(err instanceof ConversionError)) throw err;
    return response({ status: 'Failure', message: err.message });
  }
}
