import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrk, parseDuration } from './wrk.ts';

const SAMPLE = `Running 10s test @ http://127.0.0.1:9002/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   379.00us  200.00us   5.00ms   90.00%
    Req/Sec    72.00k     3.00k   80.00k    70.00%
  Latency Distribution
     50%  379.00us
     75%  500.00us
     90%  800.00us
     99%    2.88ms
  1438860 requests in 10.00s, 200.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec: 143886.00
Transfer/sec:     20.00MB
`;

test('reads rate, percentiles and every kind of error from wrk --latency output', () => {
  assert.deepEqual(parseWrk(SAMPLE), { requestsPerSec: 143886, requests: 1438860, errors: 7, p50Ms: 0.379, p99Ms: 2.88 });
});

test('durations in every unit wrk prints; nonsense is an error', () => {
  assert.equal(parseDuration('1.50s'), 1500);
  assert.equal(parseDuration('250.00us'), 0.25);
  assert.throws(() => parseDuration('fast'), /cannot read duration/);
});

test('output without a latency distribution is an error, not zeros', () => {
  assert.throws(() => parseWrk('Requests/sec: 10\n'), /no 50th percentile/);
});
