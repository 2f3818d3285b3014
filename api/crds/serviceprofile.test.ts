import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdObject } from './render.ts';
import { serviceProfileCrd, parseServiceProfileSpec, serviceProfileNameProblem, MAX_CONDITION_DEPTH, RETRY_BUDGET_DEFAULTS } from './serviceprofile.ts';

type Schema = { type?: string; properties?: Record<string, Schema>; items?: Schema; 'x-kubernetes-preserve-unknown-fields'?: boolean; 'x-kubernetes-int-or-string'?: boolean };

/** Where a value does not fit a structural schema the way the API server reads it: a wrong type, or a field it would prune. */
function misfits(schema: Schema, value: unknown, path: string): string[] {
  if (schema['x-kubernetes-preserve-unknown-fields'] && schema.type === undefined) return [];
  if (schema['x-kubernetes-int-or-string']) return typeof value === 'string' || Number.isInteger(value) ? [] : [`${path}: not int-or-string`];
  const actual = Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (schema.type !== actual && !(schema.type === 'number' && actual === 'integer')) return [`${path}: ${actual}, the schema says ${schema.type}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => misfits(schema.items ?? {}, v, `${path}[${i}]`));
  if (actual !== 'object' || schema['x-kubernetes-preserve-unknown-fields']) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const field = schema.properties?.[k];
    return field ? misfits(field, v, `${path}.${k}`) : [`${path}.${k}: would be pruned`];
  });
}

const crdSpecSchema = () => {
  const versions = (crdObject(serviceProfileCrd).spec as { versions: { schema: { openAPIV3Schema: { properties: { spec: Schema } } } }[] }).versions;
  return versions[0]!.schema.openAPIV3Schema.properties.spec;
};

test('a Linkerd ServiceProfile is a Skein ServiceProfile once its apiVersion changes, field for field', () => {
  const text = readFileSync(join(import.meta.dirname, 'testdata/linkerd-serviceprofile.yaml'), 'utf8');
  const linkerd = parse(text.replace('apiVersion: linkerd.io/v1alpha2', 'apiVersion: skein.dev/v1alpha1')) as { apiVersion: string; kind: string; metadata: { name: string }; spec: unknown };
  assert.equal(linkerd.apiVersion, 'skein.dev/v1alpha1');
  assert.equal(linkerd.kind, serviceProfileCrd.names.kind);
  assert.deepEqual(misfits(crdSpecSchema(), linkerd.spec, 'spec'), [], 'the CRD keeps every field, with its type');
  const parsed = parseServiceProfileSpec(linkerd.spec);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.join('\n'));
  assert.deepEqual(parsed.spec, linkerd.spec, 'the webhook reads every field and drops none');
  assert.equal(serviceProfileNameProblem(linkerd.metadata.name), undefined);
});

test('the misfit check itself catches pruned fields and wrong types', () => {
  assert.deepEqual(misfits(crdSpecSchema(), { routes: [{ name: 'x', condition: { method: 'GET' }, retries: 3 }] }, 'spec'), ['spec.routes[0].retries: would be pruned']);
  assert.deepEqual(misfits(crdSpecSchema(), { retryBudget: { retryRatio: 'lots' } }, 'spec'), ['spec.retryBudget.retryRatio: string, the schema says number']);
});

test('the retry budget fills in 0.2, 10/s and 10s', () => {
  const parsed = parseServiceProfileSpec({ retryBudget: {} });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.spec.retryBudget, RETRY_BUDGET_DEFAULTS);
  const props = crdSpecSchema().properties?.retryBudget?.properties as Record<string, { default?: unknown }>;
  assert.deepEqual({ retryRatio: props.retryRatio?.default, minRetriesPerSecond: props.minRetriesPerSecond?.default, ttl: props.ttl?.default }, RETRY_BUDGET_DEFAULTS, 'the API server fills in the same');
});

test('the CRD types the first level of a condition and keeps deeper levels for the webhook', () => {
  const condition = crdSpecSchema().properties?.routes?.items?.properties?.condition as Schema & { minProperties?: number };
  assert.deepEqual(Object.keys(condition.properties ?? {}).sort(), ['all', 'any', 'method', 'not', 'pathRegex']);
  assert.equal(condition.minProperties, 1);
  assert.deepEqual(condition.properties?.all?.items, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  assert.deepEqual(condition.properties?.not, { description: 'Matches when the request condition does not match', 'x-kubernetes-preserve-unknown-fields': true });
  const nest = (levels: number): object => (levels === 0 ? { method: 'GET' } : { all: [nest(levels - 1)] });
  assert.ok(parseServiceProfileSpec({ routes: [{ name: 'deep', condition: nest(MAX_CONDITION_DEPTH) }] }).ok);
  const tooDeep = parseServiceProfileSpec({ routes: [{ name: 'deep', condition: nest(MAX_CONDITION_DEPTH + 1) }] });
  assert.equal(tooDeep.ok, false);
  assert.match(tooDeep.ok ? '' : tooDeep.problems.join(), /spec\.routes\[0\]\.condition(\.all\[0\])+: conditions nest at most 5 levels/);
});
