// skein-init: the wiring. Writes the pod's redirect rules (rules.ts) with the
// node's iptables backend (backend.ts), then prints what the nat table holds,
// so `kubectl logs <pod> -c skein-init` shows exactly what was applied.
import { readFileSync } from 'node:fs';
import { parseInitArgs } from './args.ts';
import { requireNetAdmin } from './capabilities.ts';
import { commandsFor, detectBackend, type Family } from './backend.ts';
import { InitError, EXIT_STATUS, describeFailure } from './errors.ts';
import { restoreNat, saveNat, spawnRunner } from './iptables.ts';
import { natRestoreInput } from './rules.ts';

function procStatus(): string {
  try { return readFileSync('/proc/self/status', 'utf8'); } catch { return ''; }
}

try {
  const options = parseInitArgs(process.argv.slice(2));
  requireNetAdmin(procStatus());
  const backend = await detectBackend(spawnRunner, options.iptablesMode);
  const families: Family[] = options.ipv6 ? [4, 6] : [4];
  for (const family of families) {
    const { save, restore } = commandsFor(backend, family);
    await restoreNat(spawnRunner, restore, natRestoreInput(options, await saveNat(spawnRunner, save), family));
    process.stdout.write(`skein-init: applied with ${restore} (backend ${backend}, IPv${family}); nat table now:\n`);
    process.stdout.write(await saveNat(spawnRunner, save));
  }
} catch (err) {
  if (!(err instanceof InitError)) throw err;
  process.stderr.write(`${describeFailure(err)}\n`);
  process.exitCode = EXIT_STATUS[err.code];
}
