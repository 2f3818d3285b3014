// The discovery server's metrics, on a registry of its own (tests build many servers).
import { Registry, Counter, Gauge } from 'prom-client';

export function discoveryMetrics(registry = new Registry()) {
  return {
    registry,
    streamsOpen: new Gauge({ name: 'skein_discovery_streams_open', help: 'Watch streams open now', registers: [registry] }),
    streams: new Counter({ name: 'skein_discovery_streams_total', help: 'Watch streams accepted, by the kind of target (ip, name, unknown) and the protocol version negotiated (api/discovery-version.ts): proxies still on an old version show here', labelNames: ['kind', 'protocol_version'], registers: [registry] }),
    updatesSent: new Counter({ name: 'skein_discovery_updates_sent_total', help: 'Snapshots written to watch streams', registers: [registry] }),
    errors: new Counter({ name: 'skein_discovery_errors_total', help: 'Refused requests and failed connections by reason code', labelNames: ['reason'], registers: [registry] }),
    peers: new Counter({ name: 'skein_discovery_peer_streams_total', help: 'Watch streams by the client identity from its certificate', labelNames: ['identity'], registers: [registry] }),
  };
}
export type DiscoveryMetrics = ReturnType<typeof discoveryMetrics>;
