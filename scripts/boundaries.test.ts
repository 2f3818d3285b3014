// The import boundaries of eslint.config.js, each shown refusing an import
// that breaks it (and letting through one that does not), on the same rule
// objects `make lint` runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
// @ts-expect-error -- eslint.config.js is plain JavaScript without types
import config, { BOUNDARIES } from '../eslint.config.js';

const ROOT = join(import.meta.dirname, '..');
const boundaries = BOUNDARIES as Linter.Config[];

/** The rule ids and messages ESLint gives one import written in `file`. */
function lint(file: string, specifier: string): string[] {
  const linter = new Linter({ configType: 'flat', cwd: ROOT });
  const messages = linter.verify(`import { x } from '${specifier}';\nexport { x };\n`, [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...boundaries], { filename: join(ROOT, file) });
  return messages.map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

const refused = (file: string, specifier: string, why: RegExp) => {
  const found = lint(file, specifier);
  assert.equal(found.length, 1, `${file} importing ${specifier}: ${found.join('; ') || 'accepted'}`);
  assert.match(found[0] ?? '', /^no-restricted-imports: .*/);
  assert.match(found[0] ?? '', why);
};
const accepted = (file: string, specifier: string) => assert.deepEqual(lint(file, specifier), [], `${file} importing ${specifier}`);

test('make lint runs these boundary rules', () => {
  for (const b of boundaries) assert.ok((config as unknown[]).includes(b));
});

test('proxy-image/ imports only api/ and shared/ (and testkit/ from its tests)', () => {
  refused('proxy-image/proxy/config.ts', '../../webhook/inject/config.ts', /proxy image imports only api\/ and shared\//);
  refused('proxy-image/init/main.ts', '../../operator/discovery/resolve.ts', /proxy image/);
  refused('proxy-image/proxy/config.ts', '../../crds/generate.ts', /proxy image/);
  refused('proxy-image/proxy/config.ts', '../../testkit/fuzz/random.ts', /at run time/);
  accepted('proxy-image/proxy/proxy.fuzz.test.ts', '../../testkit/fuzz/random.ts');
  accepted('proxy-image/proxy/config.ts', '../../api/sidecar.ts');
  accepted('proxy-image/proxy/main.ts', '../../shared/log.ts');
  accepted('proxy-image/proxy/main.ts', './config.ts');
});

test('webhook/ and operator/ never import each other', () => {
  refused('webhook/inject/sidecar.ts', '../../operator/policy/inbound.ts', /never import each other/);
  refused('operator/policy/profile.ts', '../../webhook/convert/trafficsplit.ts', /never import each other/);
  refused('operator/main.ts', '../webhook/main.ts', /never import each other/);
  accepted('operator/policy/profile.ts', '../../api/quantity.ts');
  accepted('operator/policy/profile.ts', '../discovery/cache.ts');
});

test('api/ and shared/ import no component', () => {
  refused('api/crds/serviceprofile.ts', '../../crds/generate.ts', /api\/ holds contracts/);
  refused('api/sidecar.ts', '../webhook/inject/config.ts', /api\/ holds contracts/);
  refused('api/sidecar.ts', '../shared/log.ts', /api\/ holds contracts/);
  refused('shared/discovery-client.ts', '../operator/discovery/server.ts', /shared\/ imports api\/ and shared\/ only/);
  refused('shared/informer.ts', '../proxy-image/proxy/metrics.ts', /shared\//);
  accepted('shared/discovery-client.ts', '../api/discovery-protocol.ts');
  accepted('api/sidecar.ts', './mesh-names.ts');
});

test('nothing outside e2e/ and bench/ imports e2e/', () => {
  refused('webhook/server.fuzz.test.ts', '../e2e/fuzz/json.ts', /only e2e\/ and bench\/ import e2e\//);
  refused('cli/check/run.ts', '../../e2e/support/skein.ts', /only e2e\/ and bench\//);
  refused('testkit/fuzz/random.ts', '../../e2e/nodes/config.ts', /testkit\//);
  accepted('bench/proxy.ts', '../e2e/support/skein.ts');
  accepted('e2e/tests/mesh.test.ts', '../support/skein.ts');
});
