// One Skein proxy direction in a process of its own, for the proxy benchmark:
// the layers `skein-proxy` composes, by the same composeProxy (detection, HTTP fronts, mTLS over
// shared HTTP/2 sessions, balancer, golden metrics), with what the cluster
// would supply made static — the workload certificate from files, discovery
// answering one meshed endpoint, and the original destination that iptables
// and SO_ORIGINAL_DST would give on loopback, where there is no redirect.
//   skein-hop.ts outbound <listen> <endpoint-port> <peer-identity> <certdir>
//   skein-hop.ts inbound  <listen> <app-port> <certdir>
// bench/proxy.ts starts it with the proxy's Node flags and environment
// (proxy-image/proxy/node-runtime) and, with --profile, a CPU profile.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from '../../shared/prom-text.ts';
import { createLogger } from '../../shared/log.ts';
import type { Update } from '../../api/discovery-protocol.ts';
import { composeProxy } from '../../proxy-image/proxy/compose.ts';
import type { Discovery } from '../../proxy-image/proxy/destinations.ts';
import { MeshTls } from '../../proxy-image/proxy/mesh-tls.ts';
import type { OriginalDestination } from '../../proxy-image/proxy/original-dst.ts';

const [role, listenArg, targetArg, ...rest] = process.argv.slice(2);
const certDir = rest.at(-1) ?? '';
const read = (f: string) => readFileSync(join(certDir, f), 'utf8');
const meshTls = new MeshTls(read('ca.pem'));
meshTls.update({ certPem: read(`${role ?? ''}.crt`), chainPem: [], keyPem: read(`${role ?? ''}.key`) });
const log = createLogger(`bench-${role ?? ''}`, 'warn');
const target = Number(targetArg);

let original: OriginalDestination;
let discovery: Discovery = { watch: () => () => undefined };
if (role === 'outbound') {
  const identity = rest[0] ?? '';
  const update: Update = { type: 'update', exists: true, opaque: false, endpoints: [{ ip: '127.0.0.1', port: target, identity, protocolHint: 'http', labels: {} }] };
  discovery = { watch: (_t, onUpdate) => { queueMicrotask(() => onUpdate(update)); return () => undefined; } };
  // The app "dialled" a service address; discovery maps it to the inbound hop.
  original = { ip: '198.19.0.10', port: 80, family: 4 };
} else if (role === 'inbound') {
  original = { ip: '127.0.0.1', port: target, family: 4 };
} else {
  console.error('usage: skein-hop.ts outbound <listen> <endpoint-port> <peer-identity> <certdir> | inbound <listen> <app-port> <certdir>');
  process.exit(2);
}
// No opaque ports: the benchmark's app speaks HTTP on whatever port it got.
const proxy = composeProxy({ tls: meshTls, discovery, originalDestination: () => original, registry: new Registry(), log });
const server = proxy.server(role);
server.listen(Number(listenArg), '127.0.0.1');
process.on('SIGTERM', () => { proxy.close(); server.close(); process.exit(0); });

// SKEIN_HOP_MEMLOG=1: memory every 2 s on stderr, to tell live heap (after a
// full GC when run with --expose-gc) from what V8 and malloc keep around it.
if (process.env.SKEIN_HOP_MEMLOG) {
  const mib = (n: number) => (n / 2 ** 20).toFixed(0);
  setInterval(() => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    console.error(`${role ?? ''}: rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} MiB, external ${mib(m.external)} MiB`);
  }, 2000).unref();
}
