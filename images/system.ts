// The non-JavaScript part of the images, taken from the host's Debian 12
// packages: glibc and the C++ runtime Node needs, CA certificates, iptables
// (both backends) for skein-init, busybox and curl for the test shell. Each is
// a function of the host's installed files, so the same packages give the
// same layer.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { addBinary, addHostFile, addLibrariesOf, canonicalPath, ImageBuildError, MERGED_USR, relativeLink, type Tree } from './tree.ts';

/** The users images run as; uids are numeric in the image config, names only for tools that print them. */
export const USERS = [
  { name: 'root', uid: 0, home: '/root', shell: '/bin/sh' },
  { name: 'skein-proxy', uid: 2102, home: '/nonexistent', shell: '/usr/sbin/nologin' },
  { name: 'nonroot', uid: 65532, home: '/nonexistent', shell: '/usr/sbin/nologin' },
] as const;

/** /etc/passwd, /etc/group, CA certificates, protocol and service names, merged-/usr links, an empty /tmp. */
export function etcFiles(tree: Tree): void {
  tree.set('/etc/passwd', { kind: 'data', mode: 0o644, data: USERS.map((u) => `${u.name}:x:${u.uid}:${u.uid}::${u.home}:${u.shell}\n`).join('') });
  tree.set('/etc/group', { kind: 'data', mode: 0o644, data: USERS.map((u) => `${u.name}:x:${u.uid}:\n`).join('') });
  tree.set('/etc/nsswitch.conf', { kind: 'data', mode: 0o644, data: 'passwd: files\ngroup: files\nhosts: files dns\nprotocols: files\nservices: files\n' });
  addHostFile(tree, '/etc/ssl/certs/ca-certificates.crt', 'ca-certificates');
  addHostFile(tree, '/etc/protocols', 'netbase');
  addHostFile(tree, '/etc/services', 'netbase');
  for (const [link, target] of MERGED_USR) tree.set(link, { kind: 'symlink', target });
  tree.set('/tmp', { kind: 'dir', mode: 0o1777 });
}

/** Node 24, the binary this checkout runs (.tools/ or PATH), and the libraries it loads. */
export function nodeBase(nodeBinary: string): Tree {
  const tree: Tree = new Map();
  etcFiles(tree);
  addBinary(tree, nodeBinary, 'nodejs (or `make deps`)', '/usr/bin/node');
  return tree;
}

const XTABLES_DIR = '/usr/lib/x86_64-linux-gnu/xtables';
const IPTABLES_NAMES = ['iptables', 'ip6tables'].flatMap((base) => ['', '-save', '-restore'].flatMap((verb) => [`${base}${verb}`, `${base}-nft${verb}`, `${base}-legacy${verb}`]));

/**
 * Both backends, as skein-init detects which one the node uses. The plain
 * names point at nft, Debian 12's default alternative.
 */
export function iptables(): Tree {
  const tree: Tree = new Map();
  for (const multi of ['xtables-nft-multi', 'xtables-legacy-multi']) addBinary(tree, `/usr/sbin/${multi}`, 'iptables');
  for (const name of IPTABLES_NAMES) {
    const multi = name.includes('-legacy') ? 'xtables-legacy-multi' : 'xtables-nft-multi';
    tree.set(`/usr/sbin/${name}`, { kind: 'symlink', target: multi });
  }
  // Match and target extensions are loaded with dlopen, so ldd of the binaries does not name them.
  const extensions = readdirSync(XTABLES_DIR).filter((f) => f.endsWith('.so')).sort().map((f) => `${XTABLES_DIR}/${f}`);
  for (const ext of extensions) addHostFile(tree, ext, 'iptables', 0o644);
  addLibrariesOf(tree, extensions, 'iptables');
  return tree;
}

/** A static Go binary of the Kubernetes build (pause, CoreDNS) at `/name`, with the /etc files. */
export function goBinary(binDir: string, name: 'pause' | 'coredns'): Tree {
  const tree: Tree = new Map();
  if (name === 'coredns') etcFiles(tree);
  addBinary(tree, `${binDir}/${name}`, `${name} (e2e/cluster/build-binaries.sh builds it)`, `/${name}`);
  return tree;
}

/**
 * Istio's echo server and client (static Go binaries, scripts/istio-echo.sh)
 * in /usr/local/bin and the test certificate its --tls port serves at
 * /cert.crt and /cert.key, where the manifests' --crt and --key point.
 */
export function istioEcho(dir: string): Tree {
  const tree: Tree = new Map();
  etcFiles(tree);
  for (const bin of ['server', 'client']) addBinary(tree, `${dir}/${bin}`, `Istio's echo ${bin} (scripts/istio-echo.sh builds it)`, `/usr/local/bin/${bin}`);
  for (const f of ['cert.crt', 'cert.key']) {
    if (!existsSync(`${dir}/${f}`)) throw new ImageBuildError('missing_host_file', `${dir}/${f} is missing: run scripts/istio-echo.sh, which puts it there`);
    tree.set(`/${f}`, { kind: 'file', from: `${dir}/${f}`, mode: 0o644 });
  }
  return tree;
}

/** busybox's shell and tools, with curl (and the libraries both load) in front of busybox's applets. */
export function shellBase(): Tree {
  const tree: Tree = new Map();
  etcFiles(tree);
  addBinary(tree, '/usr/bin/busybox', 'busybox');
  addBinary(tree, '/usr/bin/curl', 'curl');
  const applets = execFileSync('/usr/bin/busybox', ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  for (const applet of applets) {
    const at = canonicalPath(`/${applet}`);
    if (!tree.has(at)) tree.set(at, { kind: 'symlink', target: relativeLink(at, '/usr/bin/busybox') });
  }
  return tree;
}
