// Mutual TLS between proxies. One SecureContext per certificate, rebuilt only
// when the identity client renews it (building one per connection costs
// ~0.5-1.5 ms of CPU, see proxy-baselines.md), TLS 1.3 only, session tickets
// kept per peer so reconnects resume instead of paying a full handshake, and
// the server's certificate checked against the exact identity discovery named.
import tls, { type PeerCertificate, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { ProxyError } from './errors.ts';

/** ALPN says what a proxy-to-proxy connection carries, so the inbound side needs no detection. */
export const ALPN = { http2: 'h2', http1: 'http/1.1', opaque: 'skein-opaque' } as const;
export type Alpn = (typeof ALPN)[keyof typeof ALPN];

export interface WorkloadCertificate {
  certPem: string;
  /** Intermediates, leaf excluded. */
  chainPem: readonly string[];
  keyPem: string;
}

export interface DialOptions {
  host: string;
  port: number;
  /** The identity the peer must present as a DNS SAN; also sent as SNI. */
  identity: string;
  alpn: Alpn;
  timeoutMs: number;
}

const MAX_SESSIONS = 1024;

/** The DNS SANs of a certificate as Node reports them (`DNS:a, DNS:b, URI:...`). */
export function dnsNames(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string[] {
  return (cert?.subjectaltname ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
}

/** A workload's identity is its certificate's first DNS SAN. */
export function identityOf(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string | undefined {
  return dnsNames(cert)[0];
}

/**
 * Exact match, not hostname rules: a wildcard or a parent name must not
 * stand in for a workload identity.
 */
export function checkPeerIdentity(expected: string, cert: Pick<PeerCertificate, 'subjectaltname'>): Error | undefined {
  if (dnsNames(cert).includes(expected)) return undefined;
  const err = new Error(`the peer presented ${cert.subjectaltname || 'no names'}, not DNS:${expected}`) as Error & { code: string };
  err.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
  return err;
}

export class MeshTls {
  #trustRoots: string;
  #cert: WorkloadCertificate | undefined;
  #serverOptions: SecureContextOptions | undefined;
  #client: SecureContext | undefined;
  readonly #servers = new Set<tls.Server>();
  readonly #sessions = new Map<string, Buffer>();

  constructor(trustRootsPem: string) {
    this.#trustRoots = trustRootsPem;
  }

  get ready(): boolean {
    return this.#client !== undefined;
  }

  get trustRoots(): string {
    return this.#trustRoots;
  }

  /**
   * New trust roots (an anchor rotation adds one, later removes the old):
   * new handshakes verify peers against them, existing connections stay.
   */
  setTrustRoots(pem: string): void {
    this.#trustRoots = pem;
    if (this.#cert) this.update(this.#cert);
  }

  /** Installs a new certificate: new connections use it, existing ones keep theirs. */
  update(cert: WorkloadCertificate): void {
    this.#cert = cert;
    const options: SecureContextOptions = {
      cert: [cert.certPem.trimEnd(), ...cert.chainPem.map((c) => c.trimEnd())].join('\n') + '\n',
      key: cert.keyPem,
      ca: this.#trustRoots,
      minVersion: 'TLSv1.3',
    };
    this.#client = tls.createSecureContext(options);
    this.#serverOptions = options;
    for (const s of this.#servers) s.setSecureContext(options);
  }

  /**
   * A TLS server for peers: a client certificate chaining to the trust roots
   * is required (the handshake fails without one; listen to `tlsClientError`).
   * Feed it sockets with `emit('connection', socket)`.
   */
  createServer(onSecure: (socket: TLSSocket) => void, handshakeTimeoutMs = 10_000): tls.Server {
    const server = tls.createServer({
      ...(this.#serverOptions ?? { ca: this.#trustRoots, minVersion: 'TLSv1.3' }),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [ALPN.http2, ALPN.http1, ALPN.opaque],
      handshakeTimeout: handshakeTimeoutMs,
    }, onSecure);
    this.#servers.add(server);
    server.once('close', () => this.#servers.delete(server));
    return server;
  }

  /** Opens mutual TLS to a peer proxy and checks it is who discovery said. */
  connect(o: DialOptions): Promise<TLSSocket> {
    const secureContext = this.#client;
    if (!secureContext) return Promise.reject(new ProxyError('no_identity'));
    const key = `${o.host}:${o.port}/${o.identity}`;
    const session = this.#sessions.get(key);
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: o.host, port: o.port, secureContext, servername: o.identity, ALPNProtocols: [o.alpn], minVersion: 'TLSv1.3',
        ...(session ? { session } : {}),
        checkServerIdentity: (_host, cert) => checkPeerIdentity(o.identity, cert),
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new ProxyError('connect_timeout', `no TLS handshake with ${o.host}:${o.port} within ${o.timeoutMs} ms`)), o.timeoutMs);
      const fail = (err: unknown) => { clearTimeout(timer); socket.destroy(); reject(err instanceof Error ? err : new Error(String(err))); };
      socket.on('session', (s: Buffer) => this.#remember(key, s));
      // Stays attached after the handshake: a later error then only destroys the socket.
      socket.on('error', fail);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        if (socket.alpnProtocol !== o.alpn) {
          socket.destroy();
          reject(new ProxyError('tls_failed', `the peer at ${o.host}:${o.port} does not speak ${o.alpn}`));
          return;
        }
        resolve(socket);
      });
    });
  }

  #remember(key: string, session: Buffer): void {
    this.#sessions.delete(key);
    this.#sessions.set(key, session);
    if (this.#sessions.size > MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
  }
}
