// How stat rows read: a table with Linkerd's columns, or JSON for scripts.
import type { StatRow } from './aggregate.ts';
import type { StatKind } from './query.ts';

export interface StatReport {
  kind: StatKind;
  windowSeconds: number;
  rows: readonly (StatRow & { meshed?: string | undefined })[];
}

const percent = (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
const rps = (v: number) => `${v.toFixed(1)}rps`;
const ms = (v: number | undefined) => (v === undefined ? '-' : `${v < 10 ? v.toFixed(1) : Math.round(v)}ms`);

export function formatTable(report: StatReport, allNamespaces: boolean): string {
  const head = [
    ...(allNamespaces ? ['NAMESPACE'] : []), report.kind === 'route' ? 'ROUTE' : 'NAME', ...(report.kind === 'route' ? ['AUTHORITY'] : []),
    ...(report.kind === 'route' ? [] : ['MESHED']), 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99',
  ];
  const lines = report.rows.map((r) => [
    ...(allNamespaces ? [r.namespace] : []), r.name, ...(report.kind === 'route' ? [r.authority ?? ''] : []),
    ...(report.kind === 'route' ? [] : [r.meshed ?? '-']), percent(r.successRate), rps(r.rps), ms(r.p50), ms(r.p95), ms(r.p99),
  ]);
  if (lines.length === 0) return `No traffic found in the last ${report.windowSeconds}s.`;
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  return [head, ...lines].map((cols) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ')).join('\n');
}

export function formatStatJson(report: StatReport): string {
  return JSON.stringify({
    kind: report.kind, windowSeconds: report.windowSeconds,
    rows: report.rows.map((r) => ({ ...r, successRate: r.successRate ?? null, p50: r.p50 ?? null, p95: r.p95 ?? null, p99: r.p99 ?? null })),
  }, null, 2);
}
