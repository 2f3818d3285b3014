// One hop of the "naive Node 2-hop mTLS" reference of the proxy benchmark:
// what a Node programmer writes first with the standard library, as measured
// in shared/reference/proxy-baselines.md (chain-http-mTLS), so every run shows
// Skein against Node's own ceiling on the same machine.
//   outbound: http server → https.request over a keep-alive https.Agent with a client certificate
//   inbound:  https server (client certificate required) → http.request over a keep-alive http.Agent
//   naive-hop.ts outbound <listen> <inbound-port> <peer-identity> <certdir>
//   naive-hop.ts inbound  <listen> <app-port> <certdir>
// Same certificates as the Skein hops; no metrics, routing, detection or policy.
import http, { type IncomingMessage, type ServerResponse, type OutgoingHttpHeaders, type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [role, listenArg, targetArg, ...rest] = process.argv.slice(2);
const certDir = rest.at(-1) ?? '';
const read = (f: string) => readFileSync(join(certDir, f), 'utf8');
const tlsFiles = { ca: read('ca.pem'), cert: read(`${role ?? ''}.crt`), key: read(`${role ?? ''}.key`), minVersion: 'TLSv1.3' } as const;
const target = Number(targetArg);

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host']);
function strip(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
}

/** The request handler of one hop: forward with `send`, pipe the answer back. */
function forwarder(send: (o: http.RequestOptions, cb: (r: IncomingMessage) => void) => http.ClientRequest) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const up = send({ method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...strip(req.headers), host: req.headers.host ?? '' } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, strip(upRes.headers));
      upRes.pipe(res);
    });
    up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    req.pipe(up);
  };
}

let server: http.Server;
if (role === 'outbound') {
  const agent = new https.Agent({ keepAlive: true, ...tlsFiles, servername: rest[0] ?? '' });
  server = http.createServer(forwarder((o, cb) => https.request({ ...o, host: '127.0.0.1', port: target, agent, servername: rest[0] ?? '' }, cb)));
} else if (role === 'inbound') {
  const agent = new http.Agent({ keepAlive: true });
  server = https.createServer({ ...tlsFiles, requestCert: true, rejectUnauthorized: true }, forwarder((o, cb) => http.request({ ...o, host: '127.0.0.1', port: target, agent }, cb)));
} else {
  console.error('usage: naive-hop.ts outbound <listen> <inbound-port> <peer-identity> <certdir> | inbound <listen> <app-port> <certdir>');
  process.exit(2);
}
server.keepAliveTimeout = 60_000;
server.listen(Number(listenArg), '127.0.0.1');
process.on('SIGTERM', () => { server.close(); process.exit(0); });
