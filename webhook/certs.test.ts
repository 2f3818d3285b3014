import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { generateServingCert, readServingCert, watchServingCert, serviceDnsNames } from './certs.ts';

test('a generated serving certificate names the Service and chains to the CA it returns', async () => {
  const c = await generateServingCert(serviceDnsNames('skein-webhook', 'skein-system', 'cluster.local'));
  const leaf = new X509Certificate(c.cert);
  assert.ok(leaf.verify(new X509Certificate(c.ca).publicKey));
  assert.match(leaf.subjectAltName ?? '', /DNS:skein-webhook\.skein-system\.svc(,|$)/);
  assert.match(leaf.subjectAltName ?? '', /DNS:skein-webhook\.skein-system\.svc\.cluster\.local/);
});

test('a mounted certificate is read, and a change to it is picked up without a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-certs-'));
  const first = await generateServingCert(['a.example']);
  const second = await generateServingCert(['b.example']);
  const write = (c: typeof first) => { writeFileSync(join(dir, 'tls.crt'), c.cert); writeFileSync(join(dir, 'tls.key'), c.key); writeFileSync(join(dir, 'ca.crt'), c.ca); };
  write(first);
  assert.deepEqual(await readServingCert(dir), first);
  const seen = new Promise<string>((resolve) => {
    const stop = watchServingCert(dir, (c) => { stop(); resolve(c.cert); }, () => undefined, 50);
  });
  await new Promise((r) => setTimeout(r, 150));
  write(second);
  assert.equal(await seen, second.cert);
  await assert.rejects(readServingCert(mkdtempSync(join(tmpdir(), 'skein-empty-'))), /must hold tls.crt and tls.key/);
});
