// Runs last (the name sorts after every other cluster test): every log the
// run wrote, the pods' container logs and the control plane's, must be free
// of private keys, ServiceAccount tokens, bearer tokens and the issuer key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../support/skein.ts';
import { kubectl } from '../support/kube.ts';
import { formatHits, scanFiles, secretNeedles } from '../fuzz/log-scan.ts';

const LOG_GLOBS = ['.cache/cluster/node/*/pods/*/logs/*', '.cache/cluster/logs/*'];

/** The issuer key of the install still present, if any (each cluster test installs its own and removes it). */
async function issuerKeys(): Promise<string[]> {
  const b64 = await kubectl('-n', 'skein-system', 'get', 'secret', 'skein-issuer', '--ignore-not-found', '-o', 'jsonpath={.data.tls\\.key}');
  return b64.trim() ? [Buffer.from(b64.trim(), 'base64').toString('utf8')] : [];
}

test('no log of the run holds a private key, a token or the issuer key', async () => {
  const files = LOG_GLOBS.flatMap((g) => globSync(join(REPO, g)));
  assert.ok(files.length > 0, `no log files under ${LOG_GLOBS.join(', ')}: the scan would prove nothing`);
  const hits = scanFiles(files, secretNeedles(await issuerKeys()));
  console.log(`scanned ${files.length} log files`);
  assert.equal(hits.length, 0, `secrets in logs:\n${formatHits(hits)}`);
});
