import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from './main.ts';
import { CliError } from './errors.ts';

const usage = (re: RegExp) => (e: unknown) => e instanceof CliError && e.code === 'Usage' && e.exitCode === 2 && re.test(e.message);

test('usage errors say what is wrong and where help is', async () => {
  await assert.rejects(main(['frobnicate']), usage(/unknown command "frobnicate"[\s\S]*kubectl skein --help/));
  await assert.rejects(main(['install', '--overlay', 'tiny']), usage(/--overlay must be one of base, ha, cert-manager/));
  await assert.rejects(main(['install', '--trust-domain', 'Not A Name']), usage(/not a DNS name/));
  await assert.rejects(main(['check', '--output', 'xml']), usage(/--output must be text or json/));
  await assert.rejects(main(['inject', '--bogus']), usage(/bogus[\s\S]*kubectl skein inject --help/));
});
