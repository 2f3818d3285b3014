// A minimal RFC 6902 JSON Patch: only `add` operations, never a rewrite of
// what the user wrote. `add` needs the parent to exist, so a missing map or
// list is added whole and an existing one is added to key by key.

export interface AddOp {
  op: 'add';
  path: string;
  value: unknown;
}

/** RFC 6901: `~` becomes `~0` and `/` becomes `~1` (in that order). */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Adds entries to a map at `path`, creating it when the object has none. */
export function addToMap(ops: AddOp[], path: string, existing: Record<string, string> | undefined, entries: Record<string, string>): void {
  if (Object.keys(entries).length === 0) return;
  if (existing === undefined) {
    ops.push({ op: 'add', path, value: entries });
    return;
  }
  for (const [k, v] of Object.entries(entries)) ops.push({ op: 'add', path: `${path}/${escapePointer(k)}`, value: v });
}

/** Inserts items into a list at `path`, at `index` or at the end, creating the list when there is none. */
export function addToList(ops: AddOp[], path: string, existing: readonly unknown[] | undefined, items: readonly unknown[], index?: number): void {
  if (items.length === 0) return;
  if (existing === undefined) {
    ops.push({ op: 'add', path, value: [...items] });
    return;
  }
  items.forEach((item, i) => ops.push({ op: 'add', path: `${path}/${index === undefined ? '-' : index + i}`, value: item }));
}
