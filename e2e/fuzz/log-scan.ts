// Finds secrets in log text: PEM private keys, ServiceAccount JWTs, bearer
// tokens, and any known secret (e.g. the issuer key's base64 body). Pure
// over text; `scanFiles` only adds reading and file names.
import { readFileSync } from 'node:fs';

export interface SecretHit {
  file: string;
  line: number;
  kind: 'private-key' | 'jwt' | 'bearer-token' | 'known-secret';
}

const PATTERNS: readonly { kind: SecretHit['kind']; re: RegExp }[] = [
  { kind: 'private-key', re: /PRIVATE KEY-----/ },
  // header.payload.signature, base64url; both JSON parts start `{"` = eyJ.
  { kind: 'jwt', re: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/ },
  { kind: 'bearer-token', re: /\bbearer\s+[A-Za-z0-9._~+/-]{16,}/i },
];

/**
 * Known secrets are matched by every 48-character slice of their base64
 * lines: a log may wrap or truncate the PEM, but it will not keep 48 of its
 * characters by chance.
 */
export function secretNeedles(secretPems: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const pem of secretPems) {
    for (const line of pem.split('\n').map((l) => l.trim())) {
      if (line.startsWith('-----') || line.length < 48) continue;
      for (let i = 0; i + 48 <= line.length; i += 16) needles.add(line.slice(i, i + 48));
    }
  }
  return [...needles];
}

export function scanText(file: string, text: string, needles: readonly string[] = []): SecretHit[] {
  const hits: SecretHit[] = [];
  text.split('\n').forEach((line, i) => {
    for (const { kind, re } of PATTERNS) if (re.test(line)) hits.push({ file, line: i + 1, kind });
    if (needles.some((n) => line.includes(n))) hits.push({ file, line: i + 1, kind: 'known-secret' });
  });
  return hits;
}

export function scanFiles(files: readonly string[], needles: readonly string[] = []): SecretHit[] {
  return files.flatMap((f) => scanText(f, readFileSync(f, 'latin1'), needles));
}

export function formatHits(hits: readonly SecretHit[]): string {
  return hits.map((h) => `${h.file}:${h.line}: ${h.kind}`).join('\n');
}
