// CRD YAML from the zod schemas in api/crds: `node crds/generate.ts` writes
// crds/*.yaml; a test fails when a committed file differs from what this produces.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_CRDS } from '../api/crds/all.ts';
import type { CrdDefinition } from '../api/crds/definition.ts';
import { renderCrd } from '../api/crds/render.ts';

export const fileOf = (d: CrdDefinition) => join(import.meta.dirname, `${d.names.plural}.${d.group}.yaml`);

if (import.meta.main) {
  for (const d of ALL_CRDS) {
    writeFileSync(fileOf(d), renderCrd(d));
    console.log(`wrote ${fileOf(d)}`);
  }
}
