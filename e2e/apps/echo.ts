// HTTP echo: answers every request with who answered and what it was asked.
// PORT (default 8080); FAIL_READY=1 makes /ready fail, for readiness tests.
import http from 'node:http';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? 8080);
const pod = process.env.POD_NAME ?? hostname();

const server = http.createServer((req, res) => {
  if (req.url === '/ready') {
    res.writeHead(process.env.FAIL_READY === '1' ? 503 : 200).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({ pod, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json', 'x-pod': pod }).end(body + '\n');
  });
});
server.listen(port, () => console.log(`echo: ${pod} listening on ${port}`));
// Exit promptly on SIGTERM so pod deletion is quick; tests of grace periods use their own command.
process.on('SIGTERM', () => { server.close(); setTimeout(() => process.exit(0), 100).unref(); });
