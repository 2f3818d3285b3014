// AdmissionReview in and out (admission.k8s.io/v1). A body that is not a
// review gets a 400 that says what is wrong, never an exception.
import { z } from 'zod';
import type { AddOp } from './inject/patch.ts';
import { SkeinError } from '../api/errors.ts';

const RequestSchema = z.object({
  uid: z.string().min(1, 'request.uid is required'),
  kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }),
  resource: z.object({ group: z.string(), version: z.string(), resource: z.string() }).optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  object: z.record(z.string(), z.unknown()).nullable().optional(),
  oldObject: z.record(z.string(), z.unknown()).nullable().optional(),
  dryRun: z.boolean().optional(),
  userInfo: z.object({ username: z.string().optional() }).passthrough().optional(),
}).passthrough();

const ReviewSchema = z.object({
  apiVersion: z.literal('admission.k8s.io/v1', { error: 'apiVersion must be admission.k8s.io/v1' }),
  kind: z.literal('AdmissionReview', { error: 'kind must be AdmissionReview' }),
  request: RequestSchema,
});

export type AdmissionRequest = z.infer<typeof RequestSchema>;

export class BadReview extends SkeinError {
  readonly code = 'bad_admission_review';
}

export function parseReview(body: unknown): AdmissionRequest {
  const parsed = ReviewSchema.safeParse(body);
  if (!parsed.success) {
    const where = (p: PropertyKey[]) => (p.length ? p.map(String).join('.') : 'body');
    throw new BadReview(`not an AdmissionReview: ${parsed.error.issues.map((i) => `${where(i.path)}: ${i.message}`).join('; ')}`);
  }
  return parsed.data.request;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export function review(response: AdmissionResponse): { apiVersion: string; kind: string; response: AdmissionResponse } {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function allowWithPatch(uid: string, patch: readonly AddOp[], warnings: readonly string[] = []): AdmissionResponse {
  return {
    uid,
    allowed: true,
    ...(patch.length > 0 ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
    ...(warnings.length > 0 ? { warnings: [...warnings] } : {}),
  };
}

export function deny(uid: string, message: string, code = 422): AdmissionResponse {
  return { uid, allowed: false, status: { code, message, reason: 'Invalid' } };
}
