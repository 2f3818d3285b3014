// The krew plugin manifest for the standalone executable: the index entry
// `kubectl krew install` reads. Its sha256 is the built archive's, so the
// manifest is written by cli/sea/build.ts after the archive, never by hand.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stringify } from 'yaml';

const HOME = 'https://github.com/skein-dev/skein';

/** krew's os and arch names (Go's) for this machine. */
export function platform(os: string = process.platform, arch: string = process.arch): { os: string; arch: string } {
  const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
  const goArchName = goArch[arch];
  if ((os !== 'linux' && os !== 'darwin') || goArchName === undefined) throw new Error(`no standalone build for ${os}/${arch}: Node's single executables are built for linux and darwin on x64 or arm64 here`);
  return { os, arch: goArchName };
}

export const archiveName = (p = platform()) => `kubectl-skein_${p.os}_${p.arch}.tar.gz`;

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function krewManifest(version: string, sha256: string, p = platform()): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`"${sha256}" is not a sha256 in hex`);
  return stringify({
    apiVersion: 'krew.googlecontainertools.github.com/v1alpha2',
    kind: 'Plugin',
    metadata: { name: 'skein' },
    spec: {
      version,
      homepage: HOME,
      shortDescription: 'Install, check and inject the Skein service mesh',
      description: 'kubectl skein installs the Skein service mesh (install | kubectl apply), checks it as linkerd check does,\n'
        + 'adds the inject annotation to manifests, and shows golden metrics per deployment (stat).\n'
        + 'A single executable: no Node needed on your machine.\n',
      platforms: [{
        selector: { matchLabels: { os: p.os, arch: p.arch } },
        uri: `${HOME}/releases/download/${version}/${archiveName(p)}`,
        sha256,
        bin: 'kubectl-skein',
        files: [{ from: 'kubectl-skein', to: '.' }, { from: 'LICENSE', to: '.' }],
      }],
    },
  }, { lineWidth: 0 });
}
