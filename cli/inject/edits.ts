// Changes to a YAML file as text edits at the parsed nodes' offsets, so a
// GitOps repository sees a diff of exactly the lines added: everything else —
// comments, quoting, key order, indentation, other documents — stays byte
// for byte. New keys go first in their map, where the position is known
// without reading the rest of the map.
import { isMap, isScalar, isPair, stringify, type Document, type Node, type YAMLMap, type Pair } from 'yaml';

export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

export function applyEdits(source: string, edits: readonly TextEdit[]): string {
  let out = source;
  // From the end, so earlier offsets stay valid.
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

export function columnOf(source: string, offset: number): number {
  return offset - (source.lastIndexOf('\n', offset - 1) + 1);
}

function pairOf(map: YAMLMap, key: string): Pair<Node, Node | null> | undefined {
  return map.items.find((p): p is Pair<Node, Node | null> => isPair(p) && isScalar(p.key) && p.key.value === key);
}

/** A key or value as YAML writes it: plain when it can be, quoted when it must. */
export function scalarText(v: string): string {
  return stringify(v, { lineWidth: 0 }).trimEnd();
}

export type Entry = readonly [key: string, value: string];

/** Strings to write, by key; a nested tree is a map below that key. */
export interface EntryTree { readonly [key: string]: string | EntryTree }

/** `entries` under the maps named by `path`: ['metadata', 'labels'] → {metadata: {labels: {…}}}. */
export function nest(path: readonly string[], entries: readonly Entry[]): EntryTree {
  return path.reduceRight<EntryTree>((tree, key) => ({ [key]: tree }), Object.fromEntries(entries));
}

const isLeaf = (v: string | EntryTree): v is string => typeof v === 'string';

function blockLines(tree: EntryTree, step: number): string[] {
  return Object.entries(tree).flatMap(([k, v]) => (isLeaf(v) ? [`${scalarText(k)}: ${scalarText(v)}`]
    : [`${scalarText(k)}:`, ...blockLines(v, step).map((l) => ' '.repeat(step) + l)]));
}

function flowText(tree: EntryTree): string {
  return Object.entries(tree).map(([k, v]) => `${scalarText(k)}: ${isLeaf(v) ? scalarText(v) : `{${flowText(v)}}`}`).join(', ');
}

/**
 * The edits that make the map at `path` (below `map`) hold every entry as a
 * string; none for entries already there. Missing maps on the way are created
 * once, holding all the entries.
 */
export function ensureEntries(source: string, map: YAMLMap, path: readonly string[], entries: readonly Entry[]): TextEdit[] {
  return ensureTree(source, map, nest(path, entries));
}

/**
 * The edits that make `map` hold the whole tree. Keys missing from one map
 * are written in one insertion, so two subtrees under a new parent (labels
 * and annotations under a missing `metadata`) never create the parent twice.
 */
export function ensureTree(source: string, map: YAMLMap, tree: EntryTree): TextEdit[] {
  const edits: TextEdit[] = [];
  const missing: Record<string, string | EntryTree> = {};
  for (const [key, want] of Object.entries(tree)) {
    const pair = pairOf(map, key);
    if (!pair) { missing[key] = want; continue; }
    const v = pair.value;
    if (isLeaf(want)) {
      if (!isScalar(v) || !v.range) throw new Error(`${key} holds a collection where a string was expected`);
      if (v.value !== want) edits.push({ start: v.range[0], end: v.range[1], text: scalarText(want) });
    } else if (isMap(v)) {
      edits.push(...ensureTree(source, v, want));
    } else if (v === null || (isScalar(v) && v.value === null)) {
      // `annotations:` with nothing after it: the map goes where the null was, in flow style.
      const at = v?.range?.[0] ?? pair.key?.range?.[1] ?? 0;
      const end = v?.range?.[1] ?? at;
      edits.push({ start: at, end, text: `${at === end ? ' ' : ''}{${flowText(want)}}` });
    } else throw new Error(`${key} is not a map`);
  }
  return Object.keys(missing).length > 0 ? [...edits, ...insertInto(source, map, missing)] : edits;
}

/** New keys into `map`: first in a block map, last in a flow map. */
function insertInto(source: string, map: YAMLMap, tree: EntryTree): TextEdit[] {
  const range = map.range;
  if (!range) throw new Error('the map has no source position');
  if (map.flow) {
    // Before the closing brace: `{}` becomes `{k: v}`, `{a: b}` becomes `{a: b, k: v}`.
    const close = source.lastIndexOf('}', range[1] - 1);
    return [{ start: close, end: close, text: `${map.items.length > 0 ? ', ' : ''}${flowText(tree)}` }];
  }
  const first = map.items[0];
  const at = (first && isPair(first) ? (first.key as Node | null)?.range?.[0] : undefined) ?? range[0];
  const column = columnOf(source, at);
  // Written at the first key's offset, which may follow `- ` on its line: the
  // new lines end with the first key's indentation so it stays where it was.
  const lines = blockLines(tree, 2).map((l, i) => (i === 0 ? l : ' '.repeat(column) + l));
  return [{ start: at, end: at, text: `${lines.join('\n')}\n${' '.repeat(column)}` }];
}

/** The map node at `path` in a document, if every step is a map. */
export function mapAt(doc: Document, path: readonly (string | number)[]): YAMLMap | undefined {
  const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return isMap(node) ? node : undefined;
}
