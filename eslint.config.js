// Typed linting: the rules that catch what tsc does not (floating promises,
// misused async callbacks) matter most in long-running controllers and proxies.
// The last blocks are the boundaries between the parts (DESIGN.md): each
// folder may import only what its row allows; scripts/boundaries.test.ts
// proves each is refused.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const X509 = { name: '@peculiar/x509', message: 'import { x509 } from shared/x509.ts: it loads reflect-metadata and WebCrypto first' };

/** An import that climbs out of its folder into one of `folders`. */
const into = (folders, message) => ({ regex: `^(\\.\\./)+(${folders.join('|')})/`, message });

const NOT_E2E = into(['e2e'], 'only e2e/ and bench/ import e2e/; move what you need to testkit/ (tests) or shared/ (runtime)');
const COMPONENTS = ['webhook', 'operator', 'proxy-image', 'cli', 'crds', 'manifests', 'bench', 'e2e'];

/** Each folder and what it must not import. Later blocks override earlier ones, so each lists all its rules. */
export const BOUNDARIES = [
  { files: ['**/*.ts'], ignores: ['e2e/**', 'bench/**'], patterns: [NOT_E2E] },
  { files: ['api/**/*.ts'], patterns: [into([...COMPONENTS, 'shared', 'testkit'], 'api/ holds contracts and imports nothing but api/ and libraries')] },
  { files: ['shared/**/*.ts'], patterns: [into([...COMPONENTS, 'testkit'], 'shared/ imports api/ and shared/ only: no component')] },
  { files: ['testkit/**/*.ts'], patterns: [into(COMPONENTS, 'testkit/ imports api/ and shared/ only: no component')] },
  {
    files: ['proxy-image/**/*.ts'],
    patterns: [into(COMPONENTS.filter((c) => c !== 'proxy-image'), 'the proxy image imports only api/ and shared/ (and testkit/ from tests)')],
  },
  {
    files: ['proxy-image/**/*.ts'], ignores: ['**/*.test.ts', '**/test-*.ts', '**/*.fixture.ts'],
    patterns: [into([...COMPONENTS.filter((c) => c !== 'proxy-image'), 'testkit'], 'the proxy image imports only api/ and shared/ at run time')],
  },
  { files: ['webhook/**/*.ts'], patterns: [NOT_E2E, into(['operator'], 'webhook/ and operator/ never import each other: share through api/ or shared/')] },
  { files: ['operator/**/*.ts'], patterns: [NOT_E2E, into(['webhook'], 'webhook/ and operator/ never import each other: share through api/ or shared/')] },
].map(({ patterns, ...where }) => ({ ...where, rules: { 'no-restricted-imports': ['error', { paths: [X509], patterns }] } }));

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.cache/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test runs top-level test() calls itself; their promises are its business.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-restricted-imports': ['error', { paths: [X509] }],
      'max-depth': ['error', 4],
    },
  },
  ...BOUNDARIES,
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  { files: ['shared/x509.ts'], rules: { 'no-restricted-imports': 'off' } },
);
