// The discovery API's wire contract, shared by the operator (server) and the
// proxy (client). One zod schema per message, so both sides validate what they
// read and a version skew shows up as a clear error, not a silent misroute.
//
// Transport: HTTP/2 over mutual TLS (the proxy presents its workload
// certificate). A proxy opens one stream per destination:
//   POST /v1/watch   body: WatchRequest (JSON)
//   response: 200, `content-type: application/x-ndjson`, one Update per line,
//   never ending on its own. Every Update is a full snapshot of the
//   destination (endpoint sets are small; snapshots make the client trivially
//   level-triggered). A Heartbeat line is sent at least every HEARTBEAT_MS so a
//   client can tell a dead stream from a quiet one.
import { z } from 'zod';

export const DISCOVERY_PORT = 8086;
export const WATCH_PATH = '/v1/watch';
export const HEARTBEAT_MS = 10_000;

/** A destination as the app addressed it: a ClusterIP (or pod IP) and port, or a Service name. */
export const WatchRequest = z.object({
  /** `ip:port`, `[v6]:port` or `name.namespace.svc.<cluster-domain>:port`. */
  target: z.string().min(3).max(300),
  /** Identity of the asking proxy's pod namespace; lets the server apply namespace-local defaults later. */
  namespace: z.string().max(63).optional(),
});
export type WatchRequest = z.infer<typeof WatchRequest>;

export const ProtocolHint = z.enum(['unknown', 'http', 'opaque']);
export type ProtocolHint = z.infer<typeof ProtocolHint>;

export const Endpoint = z.object({
  ip: z.string(),
  port: z.number().int().min(1).max(65535),
  /**
   * The workload identity a meshed endpoint's proxy must present; absent when not meshed.
   * A proxy dials a meshed endpoint at its own ip:port: the server pod's iptables send it
   * to that pod's proxy, which recovers the port with SO_ORIGINAL_DST (as Linkerd does).
   */
  identity: z.string().optional(),
  protocolHint: ProtocolHint.default('unknown'),
  /** For metrics labels: the target workload. */
  labels: z.record(z.string(), z.string()).default({}),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const Update = z.object({
  type: z.literal('update'),
  /** False when nothing in the cluster lives at the target: the proxy passes the connection through. */
  exists: z.boolean(),
  /** The Service behind the target, when there is one. */
  service: z.object({ name: z.string(), namespace: z.string(), port: z.number().int() }).optional(),
  /** The target port is opaque (config.skein.dev/opaque-ports on the Service or pods): no protocol detection. */
  opaque: z.boolean().default(false),
  /** Ready endpoints only. Empty with `exists: true` means the Service has no ready endpoint (503). */
  endpoints: z.array(Endpoint),
});
export type Update = z.infer<typeof Update>;

export const Heartbeat = z.object({ type: z.literal('heartbeat') });

export const Message = z.discriminatedUnion('type', [Update, Heartbeat]);
export type Message = z.infer<typeof Message>;

/** Parse one NDJSON line; throws a ZodError or SyntaxError with what was wrong. */
export function parseMessage(line: string): Message {
  return Message.parse(JSON.parse(line));
}
