import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convert, VERSIONS, ConversionError, type Version } from './trafficsplit.ts';
import { quantityToMilli, milliToQuantity } from '../../api/quantity.ts';

const meta = { name: 'books', namespace: 'shop', labels: { app: 'books' } };
const samples: Record<Version, Record<string, unknown>> = {
  // As Flagger and Argo Rollouts write them.
  v1alpha1: { apiVersion: 'split.smi-spec.io/v1alpha1', kind: 'TrafficSplit', metadata: meta, spec: { service: 'books', backends: [{ service: 'books-v1', weight: '500m' }, { service: 'books-v2', weight: '1' }] } },
  v1alpha2: { apiVersion: 'split.smi-spec.io/v1alpha2', kind: 'TrafficSplit', metadata: meta, spec: { service: 'books', backends: [{ service: 'books-v1', weight: 90 }, { service: 'books-v2', weight: 10 }] } },
  v1alpha3: { apiVersion: 'split.smi-spec.io/v1alpha3', kind: 'TrafficSplit', metadata: meta, spec: { service: 'books', matches: [{ kind: 'HTTPRouteGroup', name: 'canary-users' }], backends: [{ service: 'books-v1', weight: 50 }, { service: 'books-v2', weight: 50 }] } },
  v1alpha4: { apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', metadata: { ...meta, annotations: { owner: 'team-a' } }, spec: { service: 'books', matches: [{ kind: 'HTTPRouteGroup', name: 'beta', apiGroup: 'specs.smi-spec.io' }], backends: [{ service: 'books-v1', weight: 0 }, { service: 'books-v2', weight: 100 }] } },
};

const ratios = (o: Record<string, unknown>) => {
  const bs = (o.spec as { backends: { weight: string | number }[] }).backends.map((b) => quantityToMilli(typeof b.weight === 'number' ? String(b.weight) : b.weight));
  const total = bs.reduce((a, b) => a + b, 0);
  return bs.map((b) => (total === 0 ? 0 : b / total));
};

for (const from of VERSIONS) {
  for (const to of VERSIONS) {
    test(`round trip ${from} -> ${to} -> ${from} is exact, and the split's ratios hold in ${to}`, () => {
      const there = convert(samples[from], `split.smi-spec.io/${to}`);
      assert.equal(there.apiVersion, `split.smi-spec.io/${to}`);
      assert.deepEqual(ratios(there), ratios(samples[from]));
      const back = convert(there, `split.smi-spec.io/${from}`);
      assert.deepEqual(back, samples[from]);
    });
  }
}

test('v1alpha1 quantities become integer weights with the same ratios', () => {
  const v2 = convert(samples.v1alpha1, 'split.smi-spec.io/v1alpha2') as { spec: { backends: { weight: number }[] }; metadata: { annotations?: Record<string, string> } };
  assert.deepEqual(v2.spec.backends.map((b) => b.weight), [500, 1000]);
  assert.equal(v2.metadata.annotations?.['split.smi-spec.io/weight-scale'], 'milli');
  const whole = convert({ ...samples.v1alpha1, spec: { service: 'b', backends: [{ service: 'x', weight: '90' }, { service: 'y', weight: '10' }] } }, 'split.smi-spec.io/v1alpha4') as { spec: { backends: { weight: number }[] }; metadata: { annotations?: object } };
  assert.deepEqual(whole.spec.backends.map((b) => b.weight), [90, 10]);
  assert.equal(whole.metadata.annotations, undefined, 'no annotation when weights are whole');
});

test('matches survive a trip through a version that has no field for them', () => {
  const v1 = convert(samples.v1alpha3, 'split.smi-spec.io/v1alpha1') as { spec: object; metadata: { annotations: Record<string, string> } };
  assert.equal('matches' in v1.spec, false);
  assert.match(v1.metadata.annotations['split.smi-spec.io/matches'] ?? '', /canary-users/);
});

test('the status, one shape in every version, is carried over unchanged', () => {
  const status = { observedGeneration: 2, conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'in use', lastTransitionTime: '2025-01-01T00:00:00Z', observedGeneration: 2 }] };
  const v1 = convert({ ...samples.v1alpha4, status }, 'split.smi-spec.io/v1alpha1');
  assert.deepEqual(v1.status, status);
  assert.equal('status' in convert(samples.v1alpha4, 'split.smi-spec.io/v1alpha1'), false, 'no status appears from nowhere');
});

test('quantities', () => {
  assert.equal(quantityToMilli('500m'), 500);
  assert.equal(quantityToMilli('1'), 1000);
  assert.equal(quantityToMilli('0.25'), 250);
  assert.equal(quantityToMilli('2k'), 2_000_000);
  assert.equal(milliToQuantity(1500), '1500m');
  assert.equal(milliToQuantity(3000), '3');
});

test('bad objects are refused with what to fix', () => {
  assert.throws(() => convert({ ...samples.v1alpha1, spec: { service: 'b', backends: [{ service: 'x', weight: 'half' }] } }, 'split.smi-spec.io/v1alpha4'), (e: unknown) => e instanceof ConversionError && /"half" is not a quantity/.test(e.message));
  assert.throws(() => convert(samples.v1alpha2, 'split.smi-spec.io/v2'), /is not one of/);
  assert.throws(() => convert({ ...samples.v1alpha2, spec: { service: 'b', backends: [{ service: 'x', weight: -1 }] } }, 'split.smi-spec.io/v1alpha1'), /non-negative integer/);
  assert.throws(() => convert({ ...samples.v1alpha2, spec: { backends: [] } }, 'split.smi-spec.io/v1alpha1'), /spec.service/);
});
