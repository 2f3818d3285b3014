import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInitArgs } from './args.ts';
import { InitError } from './errors.ts';

const REQUIRED = ['--inbound-port', '4143', '--outbound-port', '4140', '--proxy-uid', '2102'];

function usageMessage(argv: string[]): string {
  try {
    parseInitArgs(argv);
  } catch (err) {
    assert.ok(err instanceof InitError);
    assert.equal(err.code, 'usage_error');
    return err.message;
  }
  assert.fail(`${argv.join(' ')} was accepted`);
}

test('reads the arguments the webhook writes', () => {
  assert.deepEqual(parseInitArgs([...REQUIRED, '--skip-inbound-ports', '4190,4191,8000-8010', '--skip-outbound-ports', '25,3306']), {
    inboundPort: 4143, outboundPort: 4140, proxyUid: 2102,
    skipInboundPorts: [{ from: 4190, to: 4190 }, { from: 4191, to: 4191 }, { from: 8000, to: 8010 }],
    skipOutboundPorts: [{ from: 25, to: 25 }, { from: 3306, to: 3306 }],
    iptablesMode: 'auto', ipv6: false,
  });
});

test('skipped ports are optional; mode and ipv6 can be chosen', () => {
  const options = parseInitArgs([...REQUIRED, '--iptables-mode', 'legacy', '--ipv6']);
  assert.deepEqual([options.skipInboundPorts, options.skipOutboundPorts, options.iptablesMode, options.ipv6], [[], [], 'legacy', true]);
});

test('mistakes name the flag and show the usage', () => {
  assert.match(usageMessage(['--outbound-port', '4140', '--proxy-uid', '2102']), /--inbound-port is required\nusage: skein-init/);
  assert.match(usageMessage([...REQUIRED.slice(0, 2), '--outbound-port', '0', '--proxy-uid', '2102']), /--outbound-port must be a port/);
  assert.match(usageMessage([...REQUIRED.slice(0, 4), '--proxy-uid', 'proxy']), /--proxy-uid must be a numeric uid, got "proxy"/);
  assert.match(usageMessage([...REQUIRED, '--skip-outbound-ports', '90-80']), /--skip-outbound-ports: "90-80" is not a port/);
  assert.match(usageMessage([...REQUIRED, '--iptables-mode', 'nftables']), /--iptables-mode must be one of auto, nft, legacy/);
  assert.match(usageMessage([...REQUIRED, '--redirect-all']), /Unknown option '--redirect-all'/);
});
