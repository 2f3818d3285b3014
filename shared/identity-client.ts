// The proxy's side of certify: one P-256 key for the life of the process,
// a certificate renewed at 70 % of its lifetime, jittered back-off while the
// CA is away, and the current certificate kept until it expires. Ready means:
// a certificate that is valid now and not about to expire.
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { createCsr, type Csr } from './csr.ts';

export interface IdentityClientOptions {
  /** https URL of the identity service's /certify. */
  url: string;
  identity: string;
  tokenFile: string;
  /** PEM bundle the identity service's certificate must chain to. */
  trustRoots: () => Promise<string>;
  /** The identity the service must prove (checked against its DNS SANs); defaults to the URL's host. */
  serverName?: string;
  /** Not ready this long before expiry: never serve with a certificate about to lapse. */
  expiryMarginMs?: number;
  renewAt?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onCertificate?: (c: Certificate) => void;
  onError?: (err: unknown) => void;
}

export interface Certificate {
  certPem: string;
  chainPem: string[];
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

export class IdentityClient {
  readonly #o: Required<Omit<IdentityClientOptions, 'onCertificate' | 'onError' | 'serverName'>> & Pick<IdentityClientOptions, 'onCertificate' | 'onError' | 'serverName'>;
  #csr: Csr | undefined;
  #current: Certificate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;

  constructor(o: IdentityClientOptions) {
    this.#o = { expiryMarginMs: 60_000, renewAt: 0.7, minBackoffMs: 500, maxBackoffMs: 30_000, ...o };
  }

  get current(): Certificate | undefined {
    return this.#current;
  }

  ready(now = Date.now()): boolean {
    const c = this.#current;
    return c !== undefined && c.notBefore.getTime() <= now + 60_000 && now < c.notAfter.getTime() - this.#o.expiryMarginMs;
  }

  /** Resolves once the first certificate is in hand (retrying until then). */
  async start(): Promise<void> {
    this.#csr ??= createCsr(this.#o.identity);
    await new Promise<void>((resolve) => {
      const attempt = () => {
        void this.#renew().then((ok) => {
          if (this.#stopped) return resolve();
          if (ok) { this.#scheduleRenewal(); resolve(); } else this.#timer = setTimeout(attempt, this.#backoff());
        });
      };
      attempt();
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * New trust roots: when the current certificate no longer chains to them
   * (anchors replaced without an overlap), peers will refuse it, so renew now
   * rather than at 70 % of its life. Returns whether a renewal was started.
   */
  rootsChanged(rootsPem: string): boolean {
    const c = this.#current;
    if (!c || this.#stopped || chainsTo(c.certPem, c.chainPem, rootsPem)) return false;
    clearTimeout(this.#timer);
    void this.#renewLoop();
    return true;
  }

  #backoff(): number {
    return backoffMs(this.#failures, this.#o.minBackoffMs, this.#o.maxBackoffMs, Math.random());
  }

  #scheduleRenewal(): void {
    const c = this.#current;
    if (!c || this.#stopped) return;
    const life = c.notAfter.getTime() - c.notBefore.getTime();
    const due = c.notBefore.getTime() + life * this.#o.renewAt - Date.now();
    this.#timer = setTimeout(() => { void this.#renewLoop(); }, Math.max(0, due));
  }

  async #renewLoop(): Promise<void> {
    if (this.#stopped) return;
    if (await this.#renew()) this.#scheduleRenewal();
    else this.#timer = setTimeout(() => { void this.#renewLoop(); }, this.#backoff());
  }

  async #renew(): Promise<boolean> {
    const csr = this.#csr;
    if (!csr) return false;
    try {
      const token = (await readFile(this.#o.tokenFile, 'utf8')).trim();
      const res = await post(this.#o.url, {
        ca: await this.#o.trustRoots(), ...(this.#o.serverName ? { servername: this.#o.serverName } : {}),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      }, JSON.stringify({ csr: csr.csrPem }));
      let body: { certificate?: string; chain?: string[]; error?: string; message?: string };
      try {
        body = JSON.parse(res.text) as typeof body;
      } catch {
        throw new Error(`certify answered ${res.statusCode} with a body that is not JSON: ${res.text.slice(0, 200)}`);
      }
      if (res.statusCode !== 200 || !body.certificate) throw new Error(`certify refused (${res.statusCode} ${body.error ?? ''}): ${body.message ?? ''}`);
      const x = new X509Certificate(body.certificate);
      if (!(x.subjectAltName ?? '').split(', ').includes(`DNS:${this.#o.identity}`)) throw new Error(`the certificate names ${x.subjectAltName ?? 'nothing'}, not ${this.#o.identity}`);
      this.#current = { certPem: body.certificate, chainPem: body.chain ?? [], keyPem: csr.keyPem, notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) };
      this.#failures = 0;
      this.#o.onCertificate?.(this.#current);
      return true;
    } catch (err) {
      this.#failures++;
      this.#o.onError?.(err);
      return false;
    }
  }
}

/** Time allowed for a whole certify exchange. */
const CERTIFY_TIMEOUT_MS = 10_000;

/**
 * One POST over node:https, no keep-alive (a certificate is fetched once a
 * day or so): undici cost the proxy ~5 MiB to load for this one call.
 */
function post(url: string, o: https.RequestOptions, body: string): Promise<{ statusCode: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...o, method: 'POST', agent: false, timeout: CERTIFY_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no certify answer within ${CERTIFY_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The wait after `failures` failed attempts: doubling from `minMs` up to
 * `maxMs`, each drawn from the upper half of its step (`random` in [0, 1)) so
 * that proxies which lost the CA together do not all return together.
 */
export function backoffMs(failures: number, minMs: number, maxMs: number, random: number): number {
  const step = Math.min(maxMs, minMs * 2 ** Math.min(failures, 16));
  return step / 2 + random * (step / 2);
}

/** Whether the leaf, through its chain, is signed by one of the roots in the PEM bundle. */
export function chainsTo(leafPem: string, chainPem: readonly string[], rootsPem: string): boolean {
  const roots = (rootsPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
  const chain = chainPem.map((p) => new X509Certificate(p));
  let cert = new X509Certificate(leafPem);
  for (let depth = 0; depth <= chain.length; depth++) {
    if (roots.some((r) => cert.checkIssued(r) && cert.verify(r.publicKey))) return true;
    const issuer = chain.find((c) => cert.checkIssued(c) && cert.verify(c.publicKey));
    if (!issuer) return false;
    cert = issuer;
  }
  return false;
}
