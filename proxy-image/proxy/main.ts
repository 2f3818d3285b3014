// skein-proxy: the wiring, and the only place that touches process state.
// `skein-proxy` runs the sidecar; `skein-proxy await` waits for it to be ready
// (the postStart hook of classic sidecars). Everything else is in the modules.
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { Registry, processMetrics } from '../../shared/prom-text.ts';
import { IdentityClient } from '../../shared/identity-client.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { runAwait } from './await.ts';
import { proxyReadiness, startAdmin } from './admin.ts';
import { compileInbound, defaultOnly, type InboundPolicy } from './authz.ts';
import { ConfigError, loadConfig, type ProxyConfig } from './config.ts';
import type { HostPort } from '../../api/sidecar.ts';
import { composeProxy, type Direction } from './compose.ts';
import { hostPort } from './connection.ts';
import type { Discovery } from './destinations.ts';
import { MeshTls } from './mesh-tls.ts';
import { originalDestination, OriginalDstError, type OriginalDestination } from './original-dst.ts';
import { DiscoveryClient } from '../../shared/discovery-client.ts';

const DRAIN_POLL_MS = 100;

/** How often the mounted trust roots are re-read: the kubelet refreshes ConfigMap volumes about once a minute. */
const TRUST_ROOTS_POLL_MS = 10_000;

/**
 * A socket that reached a proxy port without a redirect has itself as its
 * "original" destination; forwarding there would loop, so it is refused.
 */
function redirectedDestination(socket: Socket): OriginalDestination {
  const d = originalDestination(socket);
  if (d.port === socket.localPort && d.ip === socket.localAddress) {
    throw new OriginalDstError('not_redirected', `connection to ${hostPort(d.ip, d.port)} was not redirected by skein-init: refusing to forward it to itself`);
  }
  return d;
}

/** The mounted bundle, refused when it holds no certificate (a half-written or emptied file must not drop every peer). */
async function readTrustRoots(file: string): Promise<string> {
  const pem = await readFile(file, 'utf8');
  const certs = pem.split('-----BEGIN CERTIFICATE-----').length - 1;
  if (certs === 0) throw new Error(`${file} holds no PEM certificate; the trust roots come from ConfigMap skein-trust-roots, published by skein-identity`);
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) new X509Certificate(block);
  return pem;
}

const url = (scheme: string, a: HostPort, path = '') => `${scheme}://${hostPort(a.host, a.port)}${path}`;

async function listen(server: Server, port: number, log: Logger, name: Direction): Promise<Server> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => { server.off('error', reject); resolve(); });
  });
  log.info({ port, maxConnections: server.maxConnections }, `${name} listening`);
  return server;
}

async function run(config: ProxyConfig, log: Logger): Promise<void> {
  const meshTls = new MeshTls(await readTrustRoots(config.identity.trustRootsFile));
  // Anchor rotation: the identity controller republishes the bundle and the kubelet refreshes the file.
  const rootsPoll = setInterval(() => {
    readTrustRoots(config.identity.trustRootsFile).then((pem) => {
      if (pem === meshTls.trustRoots) return;
      meshTls.setTrustRoots(pem);
      log.info({ certificates: pem.split('BEGIN CERTIFICATE').length - 1 }, 'trust roots changed; new handshakes use them');
      if (identity.rootsChanged(pem)) log.warn('the workload certificate does not chain to the new trust roots; renewing it now');
    }, (err: unknown) => log.warn({ err }, 'trust roots unreadable; keeping the current ones'));
  }, TRUST_ROOTS_POLL_MS);
  rootsPoll.unref();
  const identity = new IdentityClient({
    url: url('https', config.identity.addr, '/certify'),
    identity: config.identity.name,
    tokenFile: config.identity.tokenFile,
    trustRoots: () => readFile(config.identity.trustRootsFile, 'utf8'),
    serverName: config.identity.serverName,
    onCertificate: (c) => {
      meshTls.update(c);
      log.info({ identity: config.identity.name, notAfter: c.notAfter.toISOString() }, 'workload certificate installed');
    },
    onError: (err) => log.warn({ err }, 'certify failed; retrying'),
  });

  const registry = new Registry();
  processMetrics(registry);

  // Set once the certificate is in: the client authenticates with it.
  const live: { discovery?: DiscoveryClient } = {};
  // Watches made before the client exists (it needs the certificate) wait here.
  const early: { target: string; onUpdate: Parameters<Discovery['watch']>[1]; stop?: () => void; cancelled?: boolean }[] = [];
  const lazyDiscovery: Discovery = {
    watch(target, onUpdate) {
      if (live.discovery) return live.discovery.watch(target, onUpdate);
      const w: (typeof early)[number] = { target, onUpdate };
      early.push(w);
      return () => { w.cancelled = true; w.stop?.(); };
    },
  };

  let draining: Promise<void> | undefined;
  const shutdown = (why: string) => { draining ??= drain(why); };
  const admin = await startAdmin({
    host: '0.0.0.0', port: config.ports.admin, registry, shutdownEnabled: config.shutdownEndpoint,
    onShutdown: () => shutdown('admin /shutdown'),
    ready: () => proxyReadiness({ certificateValid: identity.ready(), discoveryEverConnected: (live.discovery?.sessions ?? 0) > 0 }),
  });

  // The environment's default (and the app's probes) until discovery sends this pod's policy; kept as it was while discovery is away.
  let inboundPolicy: InboundPolicy = defaultOnly(config.defaultInboundPolicy, config.probes);
  const proxy = composeProxy({
    tls: meshTls, discovery: lazyDiscovery, discoveryConnected: () => live.discovery?.connected ?? false,
    originalDestination: redirectedDestination, policy: () => inboundPolicy,
    limits: config.limits, opaquePorts: config.opaquePorts,
    // An app reached around the proxy (skipped inbound ports) could forward an outsider's skein-route.
    routeOverride: config.skipInboundPorts.length === 0,
    log, registry,
  });
  const listeners = [await listen(proxy.server('outbound'), config.ports.outbound, log, 'outbound'), await listen(proxy.server('inbound'), config.ports.inbound, log, 'inbound')];

  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  await identity.start();
  if (draining) return;
  const discovery = new DiscoveryClient({
    logger: log.child({ component: 'discovery' }),
    url: url('https', config.discovery.addr),
    serverName: config.discovery.serverName,
    credentials: () => {
      const c = identity.current;
      if (!c) throw new Error('no workload certificate yet');
      return { cert: [c.certPem, ...c.chainPem].join('\n'), key: c.keyPem, ca: meshTls.trustRoots };
    },
  });
  discovery.connect();
  live.discovery = discovery;
  discovery.watchInbound({ namespace: config.pod.namespace, pod: config.pod.name }, (u) => {
    inboundPolicy = compileInbound(u, config.probes);
    log.info({ defaultPolicy: u.defaultPolicy, ports: u.ports.map((p) => p.port), probes: u.probes.length }, 'inbound policy updated');
  });
  for (const w of early.splice(0)) if (!w.cancelled) w.stop = discovery.watch(w.target, w.onUpdate);

  async function drain(why: string): Promise<void> {
    log.info({ why, gracePeriodMs: config.shutdownGracePeriodMs }, 'draining');
    for (const l of listeners) l.close();
    const deadline = Date.now() + config.shutdownGracePeriodMs;
    while (Date.now() < deadline && proxy.open > 0) {
      proxy.drain();
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
    log.info({ abandoned: proxy.open }, 'drained; exiting');
    proxy.close();
    identity.stop();
    clearInterval(rootsPoll);
    live.discovery?.close();
    await admin.close();
    process.exit(0);
  }
}

const [subcommand, ...args] = process.argv.slice(2);
if (subcommand === 'await') {
  process.exit(await runAwait(args, process.env));
} else if (subcommand !== undefined && subcommand !== 'run') {
  console.error(`skein-proxy: unknown subcommand "${subcommand}"; use \`skein-proxy\` (run) or \`skein-proxy await [--timeout 120s]\``);
  process.exit(2);
} else {
  let config: ProxyConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : `skein-proxy: ${String(err)}`);
    process.exit(2);
  }
  const log = createLogger('skein-proxy', config.log.level);
  await run(config, log).catch((err: unknown) => {
    log.fatal({ err }, 'skein-proxy failed to start');
    process.exit(1);
  });
}
