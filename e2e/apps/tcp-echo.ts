// TCP echo: writes back every byte it reads. PORT (default 9000).
import net from 'node:net';

const port = Number(process.env.PORT ?? 9000);
const server = net.createServer((s) => { s.on('error', () => s.destroy()); s.pipe(s); });
server.listen(port, () => console.log(`tcp-echo listening on ${port}`));
process.on('SIGTERM', () => { server.close(); setTimeout(() => process.exit(0), 100).unref(); });
