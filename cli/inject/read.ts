// The inputs of `inject -f`: files, directories (their .yaml/.yml/.json
// files, sorted, not recursive, like `kubectl apply -f dir`) and `-` for stdin.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { CliError } from '../errors.ts';

export interface Input { source: string; yaml: string }

const MANIFEST = /\.(ya?ml|json)$/;

export async function readInputs(paths: readonly string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const p of paths.length === 0 ? ['-'] : paths) {
    if (p === '-') { inputs.push({ source: 'stdin', yaml: await text(stdin) }); continue; }
    const info = await stat(p).catch(() => { throw new CliError('unreadable_input', `${p}: no such file or directory`); });
    const files = info.isDirectory() ? (await readdir(p)).filter((f) => MANIFEST.test(f)).sort().map((f) => join(p, f)) : [p];
    for (const f of files) inputs.push({ source: f, yaml: await readFile(f, 'utf8') });
  }
  return inputs;
}
