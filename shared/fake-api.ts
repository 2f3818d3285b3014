// For unit tests (here and in components) against a fake API server on loopback: listen, stop when the
// test ends, and a KubeConfig that points at it.
import type { TestContext } from 'node:test';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export async function serveFakeApi(server: Server, t: TestContext): Promise<KubeConfig> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }], contexts: [{ name: 'c', cluster: 'fake', user: 'u' }], currentContext: 'c',
  });
  return kc;
}
