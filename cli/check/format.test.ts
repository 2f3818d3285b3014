import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckResult } from './checks.ts';
import { formatJson, formatSummary, linePrinter, passed, toJsonReport } from './format.ts';

const results: CheckResult[] = [
  { category: 'kubernetes-api', name: 'Kubernetes API is reachable', ok: true, detail: 'https://127.0.0.1:6443' },
  { category: 'kubernetes-version', name: 'Kubernetes version is supported', ok: true },
  { category: 'identity', name: 'trust anchors are valid for at least 30 days', ok: true },
  { category: 'identity', name: 'issuer is valid for at least 30 days', ok: false, warning: true, detail: '9 days left', hint: 'issue a new issuer' },
  { category: 'control-plane', name: 'Deployment skein-webhook is ready', ok: false, detail: 'scaled to 0 replicas', hint: 'scale it up' },
];

test('text: a heading per category, ✓ ‼ ×, hints under warnings and failures', () => {
  const lines: string[] = [];
  const print = linePrinter((t) => lines.push(t));
  results.forEach(print);
  assert.equal(lines.join('\n'), [
    'kubernetes-api', '--------------', '✓ Kubernetes API is reachable (https://127.0.0.1:6443)',
    '\nkubernetes-version', '------------------', '✓ Kubernetes version is supported',
    '\nidentity', '--------', '✓ trust anchors are valid for at least 30 days', '‼ issuer is valid for at least 30 days (9 days left)\n    hint: issue a new issuer',
    '\ncontrol-plane', '-------------', '× Deployment skein-webhook is ready (scaled to 0 replicas)\n    hint: scale it up',
  ].join('\n'));
  assert.equal(formatSummary(results), 'Status check results are × (1 of 5 checks failed, 1 warning)');
  assert.equal(formatSummary(results.slice(0, 4)), 'Status check results are ✓ (4 checks, 1 warning)');
});

test('warnings alone pass; an error fails', () => {
  assert.equal(passed(results.slice(0, 4)), true);
  assert.equal(passed(results), false);
});

test('JSON in linkerd check -o json\'s layout: categories in order, description, result, error and hint only when not passed', () => {
  const report = JSON.parse(formatJson(results)) as unknown;
  assert.deepEqual(report, toJsonReport(results));
  assert.deepEqual(report, {
    success: false,
    categories: [
      { categoryName: 'kubernetes-api', checks: [{ description: 'Kubernetes API is reachable', result: 'success' }] },
      { categoryName: 'kubernetes-version', checks: [{ description: 'Kubernetes version is supported', result: 'success' }] },
      { categoryName: 'identity', checks: [
        { description: 'trust anchors are valid for at least 30 days', result: 'success' },
        { description: 'issuer is valid for at least 30 days', hint: 'issue a new issuer', error: '9 days left', result: 'warning' },
      ] },
      { categoryName: 'control-plane', checks: [{ description: 'Deployment skein-webhook is ready', hint: 'scale it up', error: 'scaled to 0 replicas', result: 'error' }] },
    ],
  });
});
