// What a CRD is made of, as the zod schemas in this folder declare it and
// crds/generate.ts renders it to YAML. Here rather than in the generator, so
// the schemas do not import the tool that reads them.
import type { z } from 'zod';

export interface CrdDefinition {
  group: string;
  names: { plural: string; singular: string; kind: string; listKind: string; shortNames?: string[]; categories?: string[] };
  scope: 'Namespaced' | 'Cluster';
  storageVersion: string;
  versions: Record<string, z.ZodType>;
  printerColumns?: { name: string; type: string; jsonPath: string; description?: string }[];
  /** A conversion webhook Service; its caBundle is applied at run time by the webhook. */
  conversion?: { service: string; namespace: string; path: string };
  status?: boolean;
  /** The status subresource's schema; without it the status is kept as it is written. */
  statusSchema?: z.ZodType;
}
