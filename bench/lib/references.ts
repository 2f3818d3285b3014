// The single-hop reference proxies every proxy benchmark is compared with,
// started fresh on loopback from generated configs: nginx as the upstream
// (one worker, a fixed 12-byte answer, like proxy-baselines.md), nginx and
// HAProxy as proxies in front of it. Each is one process, one thread, so the
// comparison with a single-threaded Node proxy is fair.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Running {
  url: string;
  /** Processes whose CPU and memory the report attributes to this target. */
  pids: number[];
  stop(): Promise<void>;
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); res(true); });
      s.on('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => { p.once('exit', () => res()); p.kill('SIGTERM'); });
}

async function startDaemon(name: string, argv: string[], port: number, dir: string, pidOf?: () => Promise<number>): Promise<Running> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('empty argv');
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], cwd: dir });
  child.on('error', (err) => { console.error(`${name}: ${err.message} (run scripts/system-deps.sh bench)`); });
  await waitForPort(port);
  const pid = pidOf ? await pidOf() : child.pid ?? 0;
  return { url: `http://127.0.0.1:${port}/`, pids: [pid], stop: async () => { await stopChild(child); await rm(dir, { recursive: true, force: true }); } };
}

const nginxConf = (port: number, body: string) => `
daemon off;
master_process off;
worker_processes 1;
error_log stderr error;
pid nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;
  keepalive_requests 1000000;
  ${body.replace('PORT', String(port))}
}
`;

/** nginx answering every request itself: the upstream of every run. */
export async function startUpstream(port: number): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-bench-upstream-'));
  await writeFile(join(dir, 'nginx.conf'), nginxConf(port, 'server { listen 127.0.0.1:PORT; location / { return 200 "hello world\\n"; } }'));
  return startDaemon('nginx upstream', ['nginx', '-p', dir, '-c', join(dir, 'nginx.conf')], port, dir);
}

export async function startNginxProxy(port: number, upstreamPort: number): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-bench-nginx-'));
  await writeFile(join(dir, 'nginx.conf'), nginxConf(port, `
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server { listen 127.0.0.1:PORT; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }`));
  return startDaemon('nginx proxy', ['nginx', '-p', dir, '-c', join(dir, 'nginx.conf')], port, dir);
}

export async function startHaproxy(port: number, upstreamPort: number): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-bench-haproxy-'));
  await writeFile(join(dir, 'haproxy.cfg'), `
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server up 127.0.0.1:${upstreamPort}
`);
  return startDaemon('haproxy', ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')], port, dir);
}
