// How check results read: grouped by category under an underlined heading,
// one line each with ✓ (passed), ‼ (warning) or × (failed) and the hint under
// anything not passed, as `linkerd check` prints them; or JSON in
// `linkerd check -o json`'s layout for scripts.
import type { CheckResult } from './checks.ts';

export type Outcome = 'success' | 'warning' | 'error';

export const outcome = (r: CheckResult): Outcome => (r.ok ? 'success' : r.warning ? 'warning' : 'error');
const SYMBOL: Record<Outcome, string> = { success: '✓', warning: '‼', error: '×' };

/** Warnings do not fail a run; errors do. */
export const passed = (results: readonly CheckResult[]) => results.every((r) => outcome(r) !== 'error');

export function formatLine(r: CheckResult): string {
  const head = `${SYMBOL[outcome(r)]} ${r.name}${r.detail ? ` (${r.detail})` : ''}`;
  return r.ok || !r.hint ? head : `${head}\n    hint: ${r.hint}`;
}

export const formatHeading = (category: string) => `${category}\n${'-'.repeat(category.length)}`;

/** Prints each result as it comes, with a heading whenever the category changes. */
export function linePrinter(write: (text: string) => void): (r: CheckResult) => void {
  let category: string | undefined;
  return (r) => {
    if (r.category !== category) write(`${category === undefined ? '' : '\n'}${formatHeading(r.category)}`);
    category = r.category;
    write(formatLine(r));
  };
}

export function formatSummary(results: readonly CheckResult[]): string {
  const failed = results.filter((r) => outcome(r) === 'error').length;
  const warned = results.filter((r) => outcome(r) === 'warning').length;
  const warnings = warned === 0 ? '' : `, ${warned} warning${warned === 1 ? '' : 's'}`;
  return failed === 0 ? `Status check results are ✓ (${results.length} checks${warnings})`
    : `Status check results are × (${failed} of ${results.length} checks failed${warnings})`;
}

export interface JsonCheck { description: string; hint?: string; error?: string; result: Outcome }
export interface JsonReport { success: boolean; categories: { categoryName: string; checks: JsonCheck[] }[] }

/** `linkerd check -o json`'s layout: categories in the order they ran, each check's description, result, and on failure error and hint. */
export function toJsonReport(results: readonly CheckResult[]): JsonReport {
  const categories: JsonReport['categories'] = [];
  for (const r of results) {
    let category = categories.at(-1);
    if (category?.categoryName !== r.category) categories.push(category = { categoryName: r.category, checks: [] });
    category.checks.push({ description: r.name, ...(r.ok ? {} : { ...(r.hint ? { hint: r.hint } : {}), ...(r.detail ? { error: r.detail } : {}) }), result: outcome(r) });
  }
  return { success: passed(results), categories };
}

export const formatJson = (results: readonly CheckResult[]) => JSON.stringify(toJsonReport(results), null, 2);
