// Hostile JSON documents from a valid one: truncation, huge values, type
// swaps at random paths, deep nesting, unicode and JSON-pointer characters
// in keys, junk. Pure: a seed gives a body string.
import type { Random } from './random.ts';

const HOSTILE_VALUES: readonly unknown[] = [null, 0, -1, 1e308, '', 'x'.repeat(10_000), '\u0000', '\ud800', '🦀'.repeat(100), [], {}, [[[]]], true, '~1/~0', { '/': { '~': 1 } }];
const HOSTILE_KEYS = ['/', '~', '~0', '~1', 'a/b~c', '__proto__', 'constructor', '', '\u202e', 'é'.repeat(300)];

/** Nests `depth` arrays, written out directly (a recursive builder would itself overflow). */
export function deepJson(depth: number, open = '[', close = ']'): string {
  return open.repeat(depth) + close.repeat(depth);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((c, i) => paths(c, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) paths(c, [...at, k], out);
  return out;
}

/** Sets a copy of `value`: the hostile values are shared, and a later edit inside one must not change them (or make them cyclic). */
function setAt(root: Json, at: readonly (string | number)[], shared: unknown): Json {
  const value = structuredClone(shared);
  if (at.length === 0) return value as Json;
  let node = root as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[at[at.length - 1]!] = value;
  return root;
}

export interface JsonCase { mutation: string; body: string }

/** `valid` is a JSON document; the case is a string body (it may not be JSON at all). */
export function mutatedJson(valid: unknown, rnd: Random): JsonCase {
  const text = JSON.stringify(valid);
  switch (rnd.int(8)) {
    case 0: return { mutation: 'truncated', body: text.slice(0, rnd.int(text.length)) };
    case 1: return { mutation: 'deep-nesting', body: rnd.chance(0.5) ? deepJson(10_000 + rnd.int(90_000)) : `{"request":${deepJson(5_000, '{"a":', '}').replace(/\{"a":\}/, '{"a":1}')}}` };
    case 2: return { mutation: 'junk', body: rnd.bytes(rnd.int(512)).toString('latin1') };
    case 3: {
      const doc = JSON.parse(text) as Json;
      const key = rnd.pick(HOSTILE_KEYS);
      const at = rnd.pick(paths(doc).filter((p) => { let n: unknown = doc; for (const k of p) n = (n as Record<string, unknown>)[k]; return n !== null && typeof n === 'object' && !Array.isArray(n); }));
      setAt(doc, [...at, key], rnd.pick(HOSTILE_VALUES));
      return { mutation: `hostile-key ${JSON.stringify(key)} at /${at.join('/')}`, body: JSON.stringify(doc) };
    }
    default: {
      const doc = JSON.parse(text) as Json;
      const edits: string[] = [];
      for (let i = 0, n = 1 + rnd.int(3); i < n; i++) {
        const at = rnd.pick(paths(doc).filter((p) => p.length > 0));
        setAt(doc, at, rnd.pick(HOSTILE_VALUES));
        edits.push(`/${at.join('/')}`);
      }
      return { mutation: `type-swap ${edits.join(' ')}`, body: JSON.stringify(doc) };
    }
  }
}
