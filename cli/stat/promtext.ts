// Reads the Prometheus text exposition format (what the proxy's :4191/metrics
// serves) into samples. Only what stat needs: names, labels, values;
// HELP/TYPE lines, timestamps and exemplars are skipped.

export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

const ESCAPES: Record<string, string> = { n: '\n', '\\': '\\', '"': '"' };

/** The labels between `{` and `}`; returns them and the index after `}`. */
function readLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  while (i < line.length && line[i] !== '}') {
    const eq = line.indexOf('=', i);
    if (eq < 0 || line[eq + 1] !== '"') throw new Error(`bad label at column ${i}`);
    const key = line.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') { j++; value += ESCAPES[line[j] ?? ''] ?? line[j] ?? ''; } else value += line[j];
    }
    if (j >= line.length) throw new Error('unterminated label value');
    labels[key] = value;
    i = j + 1;
    if (line[i] === ',') i++;
  }
  if (line[i] !== '}') throw new Error('missing }');
  return { labels, end: i + 1 };
}

// Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes
// "Nan" for an empty event-loop histogram); Number() takes neither, so they are named here.
const SPECIAL: Record<string, number> = { nan: NaN, inf: Infinity, '+inf': Infinity, '-inf': -Infinity, infinity: Infinity, '+infinity': Infinity, '-infinity': -Infinity };

function parseValue(text: string): number {
  const special = SPECIAL[text.toLowerCase()];
  if (special !== undefined) return special;
  const value = text === '' ? NaN : Number(text);
  if (Number.isNaN(value)) throw new Error(`bad value "${text}"`);
  return value;
}

/** Every sample in a scrape; a malformed line throws with its line number (a proxy that serves one is a bug worth seeing). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      const brace = line.indexOf('{');
      const space = line.search(/\s/);
      let name: string;
      let labels: Record<string, string> = {};
      let rest: string;
      if (brace >= 0 && (space < 0 || brace < space)) {
        name = line.slice(0, brace);
        const read = readLabels(line, brace + 1);
        labels = read.labels;
        rest = line.slice(read.end);
      } else {
        name = line.slice(0, space);
        rest = line.slice(space);
      }
      const value = parseValue(rest.trim().split(/\s+/)[0] ?? '');
      samples.push({ name, labels, value });
    } catch (err) {
      throw new Error(`metrics line ${n + 1}: ${(err as Error).message}: ${line}`, { cause: err });
    }
  });
  return samples;
}
