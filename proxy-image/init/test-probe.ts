// A helper the netns tests run inside the namespaces they create.
//   serve <label> <port>...   listen on :: (IPv4 too, v4-mapped); answer each connection with one
//                             JSON line: who answered, on which port, and what
//                             originalDestination() says; prints "ready".
//   dial <ip> <port> [uid]    connect (as uid if given), print the answer line,
//                             or {"error": code} when there is none.
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { originalDestination, OriginalDstError } from '../proxy/original-dst.ts';

const DIAL_TIMEOUT_MS = 3_000;

function describeOriginal(socket: Socket): unknown {
  try {
    return originalDestination(socket);
  } catch (err) {
    if (err instanceof OriginalDstError) return { error: err.code };
    throw err;
  }
}

async function serve(label: string, ports: number[]): Promise<void> {
  for (const port of ports) {
    const server = createServer((socket) => {
      socket.end(`${JSON.stringify({ server: label, port: socket.localPort, original: describeOriginal(socket) })}\n`);
    });
    server.listen(port, '::');
    await once(server, 'listening');
  }
  process.stdout.write('ready\n');
}

function dial(ip: string, port: number, uid: number | undefined): void {
  if (uid !== undefined) {
    if (!process.setgid || !process.setuid) throw new Error('dialling as another uid needs POSIX setuid');
    process.setgid(uid);
    process.setuid(uid);
  }
  const socket = connect({ host: ip, port, timeout: DIAL_TIMEOUT_MS });
  let answer = '';
  socket.setEncoding('utf8').on('data', (d: string) => { answer += d; });
  socket.on('timeout', () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
  socket.on('error', (err: NodeJS.ErrnoException) => { process.stdout.write(`${JSON.stringify({ error: err.code ?? err.message })}\n`); });
  socket.on('end', () => { process.stdout.write(answer); });
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') await serve(rest[0] ?? 'server', rest.slice(1).map(Number));
else if (mode === 'dial') dial(rest[0] ?? '', Number(rest[1]), rest[2] === undefined ? undefined : Number(rest[2]));
else { process.stderr.write('usage: test-probe.ts serve <label> <port>... | dial <ip> <port> [uid]\n'); process.exitCode = 2; }
