// Connection-level plumbing both directions share: what a proxy knows about
// an accepted connection (carried on the socket so the HTTP servers' request
// handlers find it), byte-counting metrics, and the opaque TCP splice.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../shared/log.ts';
import type { ConnectionMetrics, ProxyMetrics, RequestMetrics, TrafficLabels } from './metrics.ts';
import type { HttpLimits } from './http-front.ts';
import type { MeshTls } from './mesh-tls.ts';
import type { OriginalDestination } from './original-dst.ts';
import type { Outcome } from './relay.ts';

/** What both directions are built from. */
export interface DirectionOptions {
  tls: MeshTls;
  metrics: ProxyMetrics;
  log: Logger;
  originalDestination: (socket: Socket) => OriginalDestination;
  isOpaquePort: (port: number) => boolean;
  detectTimeoutMs: number;
  connectTimeoutMs: number;
  limits: HttpLimits;
}

/** A listener's view of a proxy direction. */
export interface Proxy {
  /** Handles one accepted connection (the listener's `connection` callback). */
  accept(socket: Socket): void;
  /** Stops keep-alive reuse and sends GOAWAY so in-flight requests finish. */
  drain(): void;
  readonly open: number;
  close(): void;
}

export function recordOutcome(m: RequestMetrics, outcome: Outcome, failure?: boolean): void {
  m.respond(outcome.status, {
    ...(outcome.grpcStatus === undefined ? {} : { grpcStatus: outcome.grpcStatus }),
    ...(outcome.error ? { error: outcome.error.code } : {}),
    ...(failure === undefined ? {} : { failure }),
  });
}

const CONTEXT = Symbol('skein.connection');
type Carrier = { [CONTEXT]?: unknown };

/**
 * Attaches a value to a socket. HTTP/2's compat API hands handlers a Proxy of
 * the socket that forwards property reads, so the value is found through it.
 */
export function setContext<T>(socket: object, value: T): void {
  (socket as Carrier)[CONTEXT] = value;
}

export function contextOf<T>(socket: object | null | undefined): T | undefined {
  return socket ? (socket as Carrier)[CONTEXT] as T | undefined : undefined;
}

/** Counts a connection in the TCP metrics from now until it closes. */
export function countConnection(metrics: ProxyMetrics, socket: Socket, labels: TrafficLabels): ConnectionMetrics {
  const m = metrics.connection(labels);
  socket.once('close', () => {
    m.read(socket.bytesRead);
    m.wrote(socket.bytesWritten);
    m.close();
  });
  return m;
}

/**
 * Pipes two streams both ways until either side ends or fails, then tears
 * both down. Half-close is kept: one side's FIN is passed on and the other
 * direction keeps flowing. `idleMs` bounds a connection where nothing moves.
 */
export function splice(a: Duplex, b: Duplex, idleMs: number, unread?: Buffer): void {
  const destroyBoth = () => { a.destroy(); b.destroy(); };
  // `a` already ended after sending `unread` (see detect.ts): pass both on at once.
  if (unread) b.end(unread);
  else a.pipe(b);
  b.pipe(a);
  a.on('error', destroyBoth);
  b.on('error', destroyBoth);
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
  for (const s of [a, b]) {
    const sock = s as Partial<Pick<Socket, 'setTimeout'>>;
    sock.setTimeout?.(idleMs, destroyBoth);
  }
}

/** Opaque TCP to the connection `dial` makes, spliced; false (the socket closed) when it could not be made. */
export async function spliceTo(socket: Duplex, dial: () => Promise<Duplex>, idleMs: number, unread?: Buffer): Promise<boolean> {
  try {
    splice(socket, await dial(), idleMs, unread);
    return true;
  } catch {
    socket.destroy();
    return false;
  }
}

/** `ip:port` as discovery names a destination (`[v6]:port` for IPv6). */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
