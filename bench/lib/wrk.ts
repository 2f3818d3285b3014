// Runs wrk (the Debian package) and reads its report. wrk is the load
// generator of ../shared/reference/proxy-baselines.md, so the numbers here
// compare with the ones measured there.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  /** Socket errors and non-2xx/3xx responses together: any of them makes a run suspect. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

export interface WrkOptions {
  url: string;
  connections: number;
  threads?: number;
  durationS: number;
  /** Each connection waits an exponential think time with this mean after every response (open-ish loop). */
  paceMs?: number;
}

// A closed loop with exponential think time: with c connections and mean
// think time t, the offered rate is about c / (t + latency).
const PACE_LUA = `
local mean = tonumber(os.getenv("PACE_MS") or "10")
math.randomseed(os.time())
function delay() return math.floor(-math.log(1 - math.random()) * mean + 0.5) end
`;

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

export function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m?.[1] || !m[2]) throw new Error(`wrk: cannot read duration "${text}"`);
  return Number(m[1]) * (UNIT_MS[m[2]] ?? NaN);
}

/** Pure: reads the text wrk prints with --latency. */
export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m?.[1] ? Number(m[1]) : 0;
  };
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    if (!m?.[1]) throw new Error(`wrk: no ${p}th percentile in output:\n${out}`);
    return parseDuration(m[1]);
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    errors: socketErrors + num(/Non-2xx or 3xx responses: (\d+)/),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
  };
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads ?? 2}`, `-c${o.connections}`, `-d${o.durationS}s`, '--latency'];
  const env = { ...process.env };
  if (o.paceMs !== undefined) {
    const script = join(tmpdir(), 'skein-wrk-pace.lua');
    await writeFile(script, PACE_LUA);
    args.push('-s', script);
    env.PACE_MS = String(o.paceMs);
  }
  args.push(o.url);
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('wrk', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { text += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { text += d; });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  return parseWrk(out);
}
