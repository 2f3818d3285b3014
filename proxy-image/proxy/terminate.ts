// Mutual TLS termination, the inbound detect layer's TLS branch (stack.ts):
// a connection that opened with a ClientHello is a peer proxy, and must show
// a certificate that chains to the trust roots; its identity is recorded and
// ALPN says what follows (h2, http/1.1, skein-opaque). Refused handshakes
// (no certificate, a bad one, too slow) are counted by reason and closed.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../shared/log.ts';
import { ALPN, identityOf, type MeshTls } from './mesh-tls.ts';
import type { ProxyMetrics } from './metrics.ts';

export type AfterTls = 'http1' | 'http2' | 'opaque';

export interface Terminated {
  socket: TLSSocket;
  /** The port the client dialled (the app's). */
  appPort: number;
  clientId: string;
  protocol: AfterTls;
}

export interface TerminateOptions {
  tls: MeshTls;
  metrics: ProxyMetrics;
  log: Logger;
  /** A peer's handshake must finish within this; a cut ClientHello is dropped then, counted as tls_handshake_timeout. */
  handshakeTimeoutMs?: number | undefined;
}

/** The reason a refused handshake is counted under; pure. */
export function handshakeRefusal(err: { code?: string | undefined; message: string }): string {
  if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'tls_handshake_timeout';
  return /certificate|CERT/i.test(`${err.code ?? ''} ${err.message}`) ? 'no_client_certificate' : 'tls_handshake';
}

export class MtlsTerminator {
  readonly #o: TerminateOptions;
  /** The TLS server wraps the raw socket in a new one; the app port travels by the peer's address. */
  readonly #pending = new Map<string, number>();
  readonly #server;

  constructor(o: TerminateOptions, next: (t: Terminated) => void) {
    this.#o = o;
    this.#server = o.tls.createServer((socket) => {
      const t = this.#secured(socket);
      if (t) next(t);
    }, o.handshakeTimeoutMs);
    this.#server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      o.metrics.refused('inbound', handshakeRefusal(err));
      o.log.debug({ err: err.message, peer: socket.remoteAddress }, 'inbound TLS handshake refused');
      socket.destroy();
    });
  }

  /** Takes a detected TLS connection to `appPort` through the handshake. */
  terminate(socket: Socket, appPort: number): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#pending.set(key, appPort);
    socket.once('close', () => this.#pending.delete(key));
    this.#server.emit('connection', socket);
  }

  #secured(socket: TLSSocket): Terminated | undefined {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const appPort = this.#pending.get(key);
    this.#pending.delete(key);
    const clientId = identityOf(socket.getPeerCertificate());
    if (appPort === undefined || !clientId) {
      this.#o.metrics.refused('inbound', 'no_identity');
      socket.destroy();
      return undefined;
    }
    const protocol: AfterTls = socket.alpnProtocol === ALPN.opaque ? 'opaque' : socket.alpnProtocol === ALPN.http2 ? 'http2' : 'http1';
    return { socket, appPort, clientId, protocol };
  }
}
