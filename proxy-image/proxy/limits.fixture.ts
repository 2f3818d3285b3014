// The inbound proxy alone in a process of its own, for limits.test.ts: its
// RSS is then the proxy's, measurable from outside (/proc/<pid>/status).
// Composed as main.ts composes it: limits from loadConfig, a listener capped
// at maxConnectionsPerListener. Plaintext clients go to the app at
// SKEIN_FIXTURE_APP_PORT on loopback; the listening port is sent to the parent.
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { createCa } from '../../shared/tls.ts';
import { workloadCert, SERVER_ID } from './test-pair.ts';
import { loadConfig } from './config.ts';
import { createInbound } from './inbound.ts';
import { MeshTls } from './mesh-tls.ts';
import { ProxyMetrics } from './metrics.ts';

const config = loadConfig(process.env);
const appPort = Number(process.env.SKEIN_FIXTURE_APP_PORT);
const ca = await createCa({ commonName: 'limits fixture', validForMs: 3_600_000 });
const meshTls = new MeshTls(ca.cert.toString('pem'));
meshTls.update(await workloadCert(ca, { identity: SERVER_ID }));
const registry = new Registry();
const metrics = new ProxyMetrics(registry);
const inbound = createInbound({
  tls: meshTls, metrics, log: pino({ level: 'silent' }),
  originalDestination: () => ({ ip: '127.0.0.1', port: appPort, family: 4 }),
  isOpaquePort: () => false, detectTimeoutMs: 1_000, connectTimeoutMs: 1_000,
  limits: config.limits, tlsHandshakeTimeoutMs: config.limits.tlsHandshakeTimeoutMs,
});
const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => inbound.accept(s));
server.maxConnections = config.limits.maxConnectionsPerListener;
server.on('drop', () => metrics.refused('inbound', 'max_connections'));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
process.on('message', (m) => {
  if (m === 'metrics') void registry.metrics().then((text) => process.send?.({ metrics: text }));
  if (m === 'stop') { inbound.close(); server.close(); process.disconnect(); }
});
process.send?.({ port: (server.address() as AddressInfo).port });
