// The inbound proxy alone in a process of its own, for limits.test.ts: its
// RSS is then the proxy's, measurable from outside (/proc/<pid>/status).
// Composed by compose.ts as main.ts is: limits from loadConfig, a listener
// capped at maxConnectionsPerListener (only the timeouts are shorter). Plaintext clients go to the app at
// SKEIN_FIXTURE_APP_PORT on loopback; the listening port is sent to the parent.
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Registry } from '../../shared/prom-text.ts';
import { pino } from 'pino';
import { createCa } from '../../shared/tls.ts';
import { workloadCert, SERVER_ID } from './test-pair.ts';
import { loadConfig } from './config.ts';
import { composeProxy } from './compose.ts';
import { MeshTls } from './mesh-tls.ts';

const config = loadConfig(process.env);
const appPort = Number(process.env.SKEIN_FIXTURE_APP_PORT);
const ca = await createCa({ commonName: 'limits fixture', validForMs: 3_600_000 });
const meshTls = new MeshTls(ca.cert.toString('pem'));
meshTls.update(await workloadCert(ca, { identity: SERVER_ID }));
const registry = new Registry();
const proxy = composeProxy({
  tls: meshTls, discovery: { watch: () => () => undefined }, registry, log: pino({ level: 'silent' }),
  originalDestination: () => ({ ip: '127.0.0.1', port: appPort, family: 4 }),
  limits: config.limits, timeouts: { detectMs: 1_000, inboundConnectMs: 1_000 },
});
const server = proxy.server('inbound');
server.listen(0, '127.0.0.1');
await once(server, 'listening');
process.on('message', (m) => {
  if (m === 'metrics') void registry.metrics().then((text) => process.send?.({ metrics: text }));
  if (m === 'stop') { proxy.close(); server.close(); process.disconnect(); }
});
process.send?.({ port: (server.address() as AddressInfo).port });
