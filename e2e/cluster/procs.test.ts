import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { isListening, isAlive, stopAll, processesMentioning } from './procs.ts';

test('isListening sees a listening socket and stops seeing it once closed', async () => {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  assert.equal(isListening(port), true);
  srv.close();
  await once(srv, 'close');
  assert.equal(isListening(port), false);
});

test('stopAll escalates to SIGKILL for a process that ignores SIGTERM', async () => {
  const marker = `skein-procs-test-${process.pid}`;
  const child = spawn(process.execPath, ['-e', `process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000); /* ${marker} */`], { stdio: ['ignore', 'pipe', 'ignore'] });
  await once(child.stdout, 'data');
  const pid = child.pid!;
  assert.deepEqual(processesMentioning(marker), [pid]);
  const t0 = Date.now();
  await stopAll([pid], 300);
  assert.equal(isAlive(pid), false);
  assert.ok(Date.now() - t0 >= 300, 'the grace period was honoured before SIGKILL');
  assert.deepEqual(processesMentioning(marker), []);
});
