import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progress } from './progress.ts';

const stream = (isTTY: boolean) => { const written: string[] = []; return { isTTY, written, write: (s: string) => written.push(s) }; };

test('progress is drawn on a terminal and cleared when done', () => {
  const s = stream(true);
  const p = progress(s, true);
  p.update('scraping 2 proxies…');
  p.done();
  assert.deepEqual(s.written, ['\r\x1b[2Kscraping 2 proxies…', '\r\x1b[2K']);
});

test('nothing is written to a pipe, or when disabled (JSON output)', () => {
  for (const [tty, enabled] of [[false, true], [true, false]] as const) {
    const s = stream(tty);
    const p = progress(s, enabled);
    p.update('x');
    p.done();
    assert.deepEqual(s.written, []);
  }
});
