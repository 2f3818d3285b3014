// The accept layer, the top of both stacks (stack.ts): a listener per
// direction, capped at maxConnectionsPerListener with its refusals counted,
// and every accepted socket taken into the direction's books (for drain and
// shutdown) with its original destination read, or closed and counted when
// it has none (it reached the port without an iptables redirect).
import net, { type Socket } from 'node:net';
import type { Logger } from '../../shared/log.ts';
import type { Direction, ProxyMetrics } from './metrics.ts';
import type { OriginalDestination } from './original-dst.ts';

export interface AcceptOptions {
  direction: Direction;
  metrics: ProxyMetrics;
  log: Logger;
  originalDestination: (socket: Socket) => OriginalDestination;
}

/** What the layer below gets: an admitted socket and where it was going. */
export type Accepted = (socket: Socket, original: OriginalDestination) => void;

export class AcceptLayer {
  readonly #o: AcceptOptions;
  readonly #next: Accepted;
  readonly #open = new Set<Socket>();

  constructor(o: AcceptOptions, next: Accepted) {
    this.#o = o;
    this.#next = next;
  }

  /** Handles one accepted connection (the listener's `connection` callback). */
  accept(socket: Socket): void {
    const original = this.#admit(socket);
    if (original) this.#next(socket, original);
  }

  /** Connections of this direction still open. */
  get open(): number { return this.#open.size; }

  /** Closes every open connection of this direction. */
  close(): void {
    for (const s of this.#open) s.destroy();
  }

  #admit(socket: Socket): OriginalDestination | undefined {
    const open = this.#open;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    try {
      return this.#o.originalDestination(socket);
    } catch (err) {
      this.#o.metrics.refused(this.#o.direction, 'no_original_destination');
      this.#o.log.warn({ err: (err as Error).message }, `${this.#o.direction} connection without an original destination: closed`);
      socket.destroy();
      return undefined;
    }
  }
}

/** A listener for one direction, not yet listening: at most `maxConnections` at once, the ones over it refused and counted. */
export function listener(direction: Direction, metrics: ProxyMetrics, maxConnections: number, accept: (socket: Socket) => void): net.Server {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, accept);
  server.maxConnections = maxConnections;
  server.on('drop', () => metrics.refused(direction, 'max_connections'));
  return server;
}
