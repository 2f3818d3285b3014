import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { completeWords, completionScript, DIRECTIVE_FILES, DIRECTIVE_NO_FILES } from './completion.ts';

const COMMANDS = ['install', 'uninstall', 'inject', 'check', 'stat', 'completion', 'version', 'help'];
const c = (...words: string[]) => completeWords(words, COMMANDS);

test('commands, flags, flag values and the first positional', () => {
  assert.deepEqual(c('in'), { candidates: ['install', 'inject'], directive: DIRECTIVE_NO_FILES });
  assert.deepEqual(c('stat', '').candidates, ['deploy', 'pod', 'route']);
  assert.deepEqual(c('stat', 'deploy', '').candidates, []);
  assert.deepEqual(c('stat', '-n', 'demo', '').candidates, ['deploy', 'pod', 'route']);
  assert.deepEqual(c('stat', '--o').candidates, ['--output']);
  assert.deepEqual(c('stat', '-o', '').candidates, ['table', 'json']);
  assert.deepEqual(c('check', '--output', 'j').candidates, ['json']);
  assert.deepEqual(c('install', '--overlay', '').candidates, ['base', 'ha', 'cert-manager']);
  assert.deepEqual(c('completion', '').candidates, ['bash', 'zsh']);
});

test('file flags leave completion to the shell', () => {
  assert.deepEqual(c('inject', '-f', ''), { candidates: [], directive: DIRECTIVE_FILES });
});

// The bash script run by a real bash against the real kubectl-skein: what a user's TAB does.
test('the bash script completes through kubectl-skein __complete', { skip: process.platform === 'win32' }, async () => {
  const bin = mkdtempSync(join(tmpdir(), 'skein-complete-'));
  try {
    symlinkSync(join(import.meta.dirname, 'bin', 'kubectl-skein'), join(bin, 'kubectl-skein'));
    const script = `${completionScript('bash')}
COMP_WORDS=(kubectl-skein stat -o j); COMP_CWORD=3; _kubectl_skein; echo "\${COMPREPLY[*]}"
COMP_WORDS=(kubectl-skein un); COMP_CWORD=1; _kubectl_skein; echo "\${COMPREPLY[*]}"`;
    const env = { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const { stdout } = await promisify(execFile)('bash', ['--norc', '-c', script], { env });
    assert.deepEqual(stdout.trim().split('\n'), ['json', 'uninstall']);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('kubectl_complete-skein answers in Cobra\'s format', async () => {
  const { stdout } = await promisify(execFile)(join(import.meta.dirname, 'bin', 'kubectl_complete-skein'), ['stat', ''],
    { env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` } });
  assert.equal(stdout, `deploy\npod\nroute\n:${DIRECTIVE_NO_FILES}\n`);
});
