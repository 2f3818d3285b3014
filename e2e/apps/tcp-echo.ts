// TCP echo. `MODE=server` (default) writes back every byte it reads on PORT
// (default 9000). `MODE=client` opens a connection to TARGET (host:port) once
// a second, sends a line, and prints one JSON line per round: how many
// round trips came back intact and which failed how.
import net from 'node:net';

function serve(port: number): void {
  const server = net.createServer((s) => { s.on('error', () => s.destroy()); s.pipe(s); });
  server.listen(port, () => console.log(`tcp-echo listening on ${port}`));
  process.on('SIGTERM', () => { server.close(); setTimeout(() => process.exit(0), 100).unref(); });
}

function client(target: string): void {
  const [host = '', port = '0'] = [target.slice(0, target.lastIndexOf(':')), target.slice(target.lastIndexOf(':') + 1)];
  const totals = { target, ok: 0, failed: {} as Record<string, number> };
  const fail = (why: string) => { totals.failed[why] = (totals.failed[why] ?? 0) + 1; };
  let n = 0;
  const round = () => {
    const line = `ping ${n++} ${'x'.repeat(1000)}\n`;
    let got = '';
    const s = net.connect(Number(port), host);
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.setEncoding('utf8');
    s.on('connect', () => s.write(line));
    s.on('data', (d: string) => { got += d; if (got.length >= line.length) s.end(); });
    s.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    s.on('close', () => {
      if (got === line) totals.ok++; else if (got.length > 0) fail('corrupted');
      console.log(JSON.stringify(totals));
    });
  };
  const timer = setInterval(round, 1000);
  process.on('SIGTERM', () => { clearInterval(timer); process.exit(0); });
}

if ((process.env.MODE ?? 'server') === 'server') serve(Number(process.env.PORT ?? 9000));
else client(process.env.TARGET ?? '127.0.0.1:9000');
