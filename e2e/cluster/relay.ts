// Pods reach the API server at the address it advertises (the `kubernetes`
// Service's endpoint, the host's 198.18.0.1), but it listens on loopback only;
// this relays that one port, so it is never exposed beyond the machine.
import net from 'node:net';
import { NETWORK } from './components.ts';

export function relayApiServer(port: number): Promise<net.Server> {
  const srv = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    client.pipe(upstream).pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close);
    upstream.on('error', close);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, NETWORK.hostIp, () => resolve(srv));
  });
}
