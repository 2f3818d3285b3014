import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { main } from './main.ts';
import { CliError, describeUnexpected } from './errors.ts';
import { HELP } from './help.ts';

const run = promisify(execFile);
const usage = (re: RegExp) => (e: unknown) => e instanceof CliError && e.code === 'usage' && e.exitCode === 2 && re.test(e.message);

test('usage errors say what is wrong and where help is', async () => {
  await assert.rejects(main(['frobnicate']), usage(/unknown command "frobnicate"[\s\S]*kubectl skein --help/));
  await assert.rejects(main(['install', '--overlay', 'tiny']), usage(/--overlay must be one of base, ha, cert-manager/));
  await assert.rejects(main(['install', '--trust-domain', 'Not A Name']), usage(/not a DNS name/));
  await assert.rejects(main(['check', '--output', 'xml']), usage(/--output must be text or json/));
  await assert.rejects(main(['inject', '--bogus']), usage(/bogus[\s\S]*kubectl skein inject --help/));
});

test('every command has --help, and the overview lists every command', async (t) => {
  const written: string[] = [];
  t.mock.method(process.stdout, 'write', (s: string) => { written.push(s); return true; });
  const commands = Object.keys(HELP).filter((c) => c !== 'skein');
  for (const command of commands) {
    written.length = 0;
    assert.equal(await main([command, '--help']), 0, command);
    assert.match(written.join(''), new RegExp(`^Usage: kubectl skein ${command}`), command);
    assert.match(HELP.skein ?? '', new RegExp(`\\n  ${command} `), `overview lists ${command}`);
  }
  for (const command of ['install', 'uninstall', 'inject', 'check', 'stat', 'completion', 'version']) assert.ok(commands.includes(command), command);
});

test('stat and completion refuse what they cannot do', async () => {
  await assert.rejects(main(['stat']), usage(/say what to stat/));
  await assert.rejects(main(['stat', 'deploy', '--from', 'deploy/a', '--to', 'deploy/b']), usage(/--from or --to, not both/));
  await assert.rejects(main(['stat', 'deploy', '-o', 'yaml']), usage(/table or json/));
  await assert.rejects(main(['completion', 'fish']), usage(/bash or zsh/));
});

test('check refuses a bad --wait and --pre with --proxy', async () => {
  await assert.rejects(main(['check', '--wait', 'soon']), usage(/--wait "soon" is not a duration/));
  await assert.rejects(main(['check', '--pre', '--proxy']), usage(/give one/));
});

test('no kubeconfig, or an unreadable one, is a message naming what to fix, never a stack trace (the plugin as users run it)', async () => {
  const plugin = join(import.meta.dirname, 'bin', 'kubectl-skein');
  const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: '/nonexistent-home' };
  for (const [args, pattern] of [
    [['check'], /^kubectl skein: no_kubeconfig: no kubeconfig: KUBECONFIG is unset and \/nonexistent-home\/\.kube\/config does not exist; pass --kubeconfig FILE/],
    [['check', '--kubeconfig', '/nonexistent/config'], /^kubectl skein: no_kubeconfig: cannot load the kubeconfig \/nonexistent\/config: ENOENT/],
    [['stat', 'deploy'], /^kubectl skein: no_kubeconfig: no kubeconfig/],
  ] as const) {
    const failed = await run(plugin, [...args], { env }).then(() => undefined, (err: unknown) => err as { code: number; stderr: string });
    assert.ok(failed, `${args.join(' ')} fails`);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, pattern);
    assert.doesNotMatch(failed.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr);
  }
});

test('an unexpected error is one line: the API server\'s own message when it sent one', () => {
  assert.equal(describeUnexpected({ code: 403, body: '{"kind":"Status","message":"pods is forbidden: User \\"x\\" cannot list"}' }), 'the API server answered HTTP 403: pods is forbidden: User "x" cannot list');
  assert.equal(describeUnexpected(new Error('socket hang up\n    at x')), 'socket hang up');
});
