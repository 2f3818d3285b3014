// Port lists like `25,3306,8000-8100`: how users write skipped and opaque
// ports in annotations, and how the webhook hands them to skein-init and the
// proxy. One parser, so both ends read the same string the same way.

export interface PortRange { from: number; to: number }

export function parsePortRanges(value: string): PortRange[] {
  if (value.trim() === '') return [];
  return value.split(',').map((part) => {
    const m = /^\s*(\d{1,5})(?:\s*-\s*(\d{1,5}))?\s*$/.exec(part);
    const from = Number(m?.[1]);
    const to = m?.[2] === undefined ? from : Number(m[2]);
    if (!m || from < 1 || to > 65535 || from > to) {
      throw new Error(`"${part.trim()}" is not a port (1-65535) or a range like 8000-8010`);
    }
    return { from, to };
  });
}

export function formatPortRanges(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

/** Sorted, with overlapping and adjacent ranges merged: `3,1,2,10-20,15-25` is `1-3,10-25`. */
export function mergePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const merged: PortRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.from - b.from)) {
    const last = merged[merged.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else merged.push({ ...r });
  }
  return merged;
}

/** True when `port` falls in one of the ranges (opaque, skipped). */
export function inPortRanges(port: number, ranges: readonly PortRange[]): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}
