// How check results read: one line each with ✓ or ×, the hint under a
// failure; or the same results as JSON for scripts.
import type { CheckResult } from './checks.ts';

export function formatLine(r: CheckResult): string {
  const head = `${r.ok ? '✓' : '×'} ${r.name}${r.detail ? ` (${r.detail})` : ''}`;
  return r.ok || !r.hint ? head : `${head}\n    hint: ${r.hint}`;
}

export function formatSummary(results: readonly CheckResult[]): string {
  const failed = results.filter((r) => !r.ok).length;
  return failed === 0 ? `Status check results are ✓ (${results.length} checks)` : `Status check results are × (${failed} of ${results.length} checks failed)`;
}

export function formatJson(results: readonly CheckResult[]): string {
  return JSON.stringify({ success: results.every((r) => r.ok), checks: results }, null, 2);
}
