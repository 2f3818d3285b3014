// The single executable's main script. Node's single-executable applications
// run one CommonJS script, and the CLI is ESM with top-level await in modules
// it imports, so this loader is all the SEA runs: it unpacks the executable's
// assets (the CLI bundled as one ESM file at cli/main.mjs, and package.json,
// crds/ and manifests/ that install renders) into a temporary folder laid out
// as the npm package is, imports the CLI from there, runs the command line,
// and removes the folder when the process exits.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getAsset, getAssetKeys } from 'node:sea';

import { BUNDLE_ASSET } from './layout.ts';

function unpack(): string {
  const root = mkdtempSync(join(tmpdir(), 'kubectl-skein-'));
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  for (const key of getAssetKeys()) {
    const path = join(root, key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, Buffer.from(getAsset(key)));
  }
  return root;
}

async function run(): Promise<void> {
  const cli = (await import(pathToFileURL(join(unpack(), BUNDLE_ASSET)).href)) as { runCli: (argv: string[]) => Promise<void> };
  await cli.runCli(process.argv.slice(2));
}

run().catch((err: unknown) => {
  process.stderr.write(`kubectl skein: unexpected_error: the executable could not start the CLI: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
