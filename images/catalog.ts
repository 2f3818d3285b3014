// Every image `make images` builds: Skein's two (controller, proxy) and the
// cluster tests' apps. One table: what goes in each, how it runs, and the
// command that proves, at build time, that it holds everything it loads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNodeRuntime } from '../proxy-image/proxy/node-runtime.ts';
import { APP_DIR, REPO_ROOT, type BundleSpec } from './bundle.ts';
import type { RuntimeConfig } from './oci.ts';

export type SystemLayer = 'node' | 'shell' | 'iptables' | 'pause' | 'coredns' | 'istio-echo';

export interface SmokeTest { argv: string[]; expect: RegExp }

export interface ImageDef {
  /** Repository under the registry: `<registry>/<name>:<tag>`. */
  name: string;
  /** The whole reference, whatever --registry and --tag say: for an image a third party's manifests name. */
  ref?: string;
  /** Built only when named: not one of `--all` nor of the images every cluster's nodes load at start. */
  onDemand?: true;
  /** Bottom first; each holds only what the ones under it lack. */
  system: SystemLayer[];
  bundle?: BundleSpec;
  runtime: Omit<RuntimeConfig, 'labels' | 'workingDir'>;
  /** Symlinks the image puts on PATH (name to target). */
  commands?: Record<string, string>;
  smoke: SmokeTest[];
}

/** How Node runs the proxy: proxy-image/proxy/node-runtime, the one place it is said. */
const proxyRuntime = parseNodeRuntime(readFileSync(join(REPO_ROOT, 'proxy-image/proxy/node-runtime'), 'utf8'));
const PATH = 'PATH=/usr/local/bin:/usr/bin:/usr/sbin';

const RUNS_NODE: SmokeTest = { argv: ['/usr/bin/node', '-p', '`node ${process.version}`'], expect: /^node v24\./ };

const app = (name: string, entry: string): ImageDef => ({
  name: `e2e/${name}`,
  system: ['node'],
  bundle: { entries: { [name]: entry } },
  runtime: { user: '65532:65532', entrypoint: ['/usr/bin/node', `${APP_DIR}/${name}.mjs`], cmd: [], env: [PATH, 'NODE_ENV=production'] },
  smoke: [RUNS_NODE],
});

export const CATALOG: readonly ImageDef[] = [
  {
    name: 'controller',
    system: ['node'],
    bundle: { entries: { 'skein-controller': 'operator/skein-controller.ts' } },
    runtime: { user: '65532:65532', entrypoint: ['/usr/bin/node', `${APP_DIR}/skein-controller.mjs`], cmd: ['controller'], env: [PATH, 'NODE_ENV=production'] },
    smoke: [{ argv: ['/usr/bin/node', `${APP_DIR}/skein-controller.mjs`, 'nope'], expect: /unknown subcommand "nope"/ }],
  },
  {
    name: 'proxy',
    system: ['node', 'iptables'],
    bundle: { entries: { 'skein-proxy': 'proxy-image/proxy/main.ts', 'skein-init': 'proxy-image/init/main.ts' }, shebangFlags: proxyRuntime.flags },
    runtime: {
      user: '2102:2102',
      entrypoint: ['/usr/local/bin/skein-proxy'],
      cmd: [],
      env: [PATH, 'NODE_ENV=production', ...Object.entries(proxyRuntime.env).map(([k, v]) => `${k}=${v}`)],
    },
    commands: { 'skein-proxy': `${APP_DIR}/skein-proxy.mjs`, 'skein-init': `${APP_DIR}/skein-init.mjs` },
    smoke: [
      // main.ts rejects the subcommand only after every module it imports (koffi's native one too) has loaded.
      { argv: ['/usr/local/bin/skein-proxy', 'nope'], expect: /unknown subcommand "nope"/ },
      { argv: ['/usr/local/bin/skein-init', '--no-such-flag'], expect: /no-such-flag/ },
      { argv: ['/usr/sbin/iptables-nft', '--version'], expect: /nf_tables/ },
      { argv: ['/usr/sbin/iptables-legacy', '--version'], expect: /legacy/ },
    ],
  },
  // The apps import only what esbuild bundled (it fails the build on an import it cannot resolve); the image must run Node.
  app('echo', 'e2e/apps/echo.ts'),
  app('tcp-echo', 'e2e/apps/tcp-echo.ts'),
  app('load', 'e2e/apps/load.ts'),
  app('grpc', 'e2e/apps/grpc.ts'),
  app('admission', 'e2e/apps/admission.ts'),
  // The local cluster's infrastructure, from the Kubernetes build (e2e/cluster/build-binaries.sh).
  {
    name: 'e2e/pause',
    system: ['pause'],
    runtime: { user: '65535:65535', entrypoint: ['/pause'], cmd: [], env: [] },
    smoke: [],
  },
  {
    name: 'e2e/coredns',
    system: ['coredns'],
    runtime: { user: '65532:65532', entrypoint: ['/coredns'], cmd: [], env: [] },
    smoke: [{ argv: ['/coredns', '-version'], expect: /CoreDNS-1\./ }],
  },
  {
    name: 'e2e/shell',
    system: ['shell', 'iptables'],
    runtime: { user: '0:0', entrypoint: ['/bin/sh'], cmd: [], env: [PATH] },
    smoke: [{ argv: ['/bin/sh', '-c', 'curl --version && iptables --version && id -u'], expect: /curl [\s\S]*nf_tables[\s\S]*0/ }],
  },
  // The Gateway API conformance suite's mesh pods (conformance/mesh/manifests.yaml of
  // sigs.k8s.io/gateway-api/conformance) run this name. Upstream it is Istio's "app" image
  // (pkg/test/echo/docker/Dockerfile.app): echo server as the entrypoint, its client on
  // PATH for `kubectl exec`, a test certificate at /cert.crt and /cert.key, uid 1338.
  // Here the same programs, built from istio.io/istio by scripts/istio-echo.sh.
  {
    name: 'gateway-api/conformance/echo-advanced',
    ref: 'registry.k8s.io/gateway-api/conformance/echo-advanced:v0.1.0',
    onDemand: true,
    system: ['istio-echo'],
    runtime: { user: '1338:1338', entrypoint: ['/usr/local/bin/server'], cmd: [], env: [PATH] },
    smoke: [
      { argv: ['/usr/local/bin/server', '--help'], expect: /--grpc[\s\S]*--tls/ },
      { argv: ['/usr/local/bin/client', '--help'], expect: /--count/ },
    ],
  },
];

export const SHIPPED = ['controller', 'proxy'];

/** What `make images --all` builds and what real nodes load when they start. */
export const CLUSTER_IMAGES: readonly string[] = CATALOG.filter((d) => !d.onDemand).map((d) => d.name);
