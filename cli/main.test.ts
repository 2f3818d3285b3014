import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from './main.ts';
import { CliError } from './errors.ts';
import { HELP } from './help.ts';

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
