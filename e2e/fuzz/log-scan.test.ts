import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCa, privateKeyPem } from '../../shared/tls.ts';
import { formatHits, scanFiles, scanText, secretNeedles } from './log-scan.ts';

// A real-shaped ServiceAccount token: header and payload are JSON, base64url.
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const JWT = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({ iss: 'https://kubernetes.default.svc', sub: 'system:serviceaccount:shop:web' })}.${'s1gnature_'.repeat(8)}`;

test('a planted private key, JWT and bearer token are each found with file and line', async () => {
  const ca = await createCa({ commonName: 'planted', validForMs: 60_000 });
  const pem = await privateKeyPem(ca.keys.privateKey);
  const dir = mkdtempSync(path.join(tmpdir(), 'log-scan-'));
  try {
    const file = path.join(dir, '0.log');
    writeFileSync(file, ['{"msg":"starting"}', `{"msg":"loaded","key":${JSON.stringify(pem)}}`, `token ${JWT}`, 'Authorization: Bearer abcdefghijklmnop1234', '{"msg":"done"}'].join('\n'));
    const hits = scanFiles([file]);
    assert.deepEqual(hits.map((h) => `${h.line}:${h.kind}`), ['2:private-key', '3:jwt', '4:bearer-token']);
    assert.match(formatHits(hits), new RegExp(`${file.replaceAll('/', '\\/')}:2: private-key`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a known secret is found even without its PEM armour, as one escaped line', async () => {
  const ca = await createCa({ commonName: 'issuer', validForMs: 60_000 });
  const pem = await privateKeyPem(ca.keys.privateKey);
  const body = pem.split('\n').filter((l) => !l.startsWith('-----')).join('');
  const hits = scanText('x.log', `{"dump":"${body}"}`, secretNeedles([pem]));
  assert.deepEqual(hits.map((h) => h.kind), ['known-secret']);
});

test('ordinary log lines are clean: certificates, identities and short tokens are not secrets', () => {
  const text = [
    '{"level":30,"msg":"certified","identity":"web.shop.serviceaccount.identity.skein-system.cluster.local"}',
    '-----BEGIN CERTIFICATE-----', 'MIIBszCCAVmgAwIBAgIUeyJ', '{"msg":"bearer token missing"}', 'eyJhbGciOi',
  ].join('\n');
  assert.deepEqual(scanText('y.log', text, secretNeedles(['-----BEGIN PRIVATE KEY-----\nshort\n-----END PRIVATE KEY-----'])), []);
});
