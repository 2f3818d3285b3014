// The soak's pure parts (bench/soak.ts): its argument, which process is which
// component, and the failure histogram's text.

export function parseMinutes(argv: readonly string[]): number {
  const i = argv.indexOf('--minutes');
  const raw = i >= 0 ? argv[i + 1] : '10';
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes <= 0) throw new Error(`--minutes wants a positive number of minutes, got "${raw ?? ''}"`);
  return minutes;
}

/** Which Skein component a process is, from its command line and environment; undefined for anything else. */
export function componentOf(cmdline: string, environ: string, ns: string): string | undefined {
  // The checkout's entry point (the imitation node) or the image's bundle (real nodes).
  const role = /(?:operator\/skein-controller\.ts|\/skein-controller\.mjs)\s+(\w+)/.exec(cmdline)?.[1];
  if (role) return `skein-${role}`;
  if (cmdline.includes('proxy-image/proxy/main.ts') && environ.includes(`SKEIN_POD_NAMESPACE=${ns}\0`)) return 'skein-proxy';
  if (/\bkube-apiserver\b/.test(cmdline)) return 'kube-apiserver';
  return undefined;
}

/** The sum of a cause → count map. */
export const total = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);
/** A histogram line, most frequent cause first; a dash when nothing failed. */
export const failureCauses = (m: Record<string, number>, prefix = ''): string => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${prefix}${k} ×${v}`).join(', ') || '—';
