// Mutated HTTP/1.1 requests: a valid request with one to three hostile edits
// (bad methods, header injection, CR/LF games, duplicate Content-Length,
// Transfer-Encoding + Content-Length smuggling, huge headers, bad chunk
// sizes, pipelining, truncation, flipped bytes). Pure: a seed gives bytes.
import type { Random } from './random.ts';

/** The path a smuggled request asks for: an app must never see it. */
export const SMUGGLED_PATH = '/smuggled';

const CRLF = '\r\n';
const SMUGGLED = `GET ${SMUGGLED_PATH} HTTP/1.1${CRLF}host: evil${CRLF}${CRLF}`;

export interface H1Case {
  /** What was done, for the failure message. */
  mutations: string[];
  bytes: Buffer;
}

interface Draft {
  method: string;
  target: string;
  version: string;
  headers: [string, string][];
  body: string;
  /** Raw bytes appended after the request (pipelined requests, junk). */
  tail: string;
  eol: string;
}

type Mutation = (d: Draft, rnd: Random) => void;

const HOSTILE_METHODS = ['', 'G ET', 'get', 'GET\x00', 'CONNECT', 'TRACE', 'PRI', 'X'.repeat(40), '\u00e9T', 'GET\t', '-'];
const HOSTILE_TARGETS = ['', '*', '//', '/a b', '/\x00', '/%zz', 'http://other.example/x', '/' + 'a'.repeat(9000), '/\u2603', '/..%2f..%2fetc'];
const HOSTILE_VERSIONS = ['HTTP/1.2', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/1', 'http/1.1', 'HTTP/01.1', ''];
const HOSTILE_CHUNK_SIZES = ['zz', '-1', 'ffffffffffffffffffff', ' 5', '5 ;x', '0x5', '', '5\x00'];

export const MUTATIONS: Readonly<Record<string, Mutation>> = {
  'bad-method': (d, r) => { d.method = r.pick(HOSTILE_METHODS); },
  'bad-target': (d, r) => { d.target = r.pick(HOSTILE_TARGETS); },
  'bad-version': (d, r) => { d.version = r.pick(HOSTILE_VERSIONS); },
  'header-injection': (d, r) => { d.headers.push(['x-inject', `a${r.pick(['\r\n', '\n', '\r'])}x-injected: ${r.pick(['1', 'host: evil', ''])}`]); },
  'bare-lf': (d) => { d.eol = '\n'; },
  'bare-cr': (d) => { d.eol = '\r'; },
  'obs-fold': (d) => { d.headers.push(['x-fold', `a${CRLF} folded`]); },
  'space-before-colon': (d) => { d.headers.push(['x-space ', 'v']); },
  'nul-in-value': (d) => { d.headers.push(['x-nul', 'a\x00b']); },
  'duplicate-content-length': (d, r) => {
    d.body = 'hello';
    d.headers.push(['content-length', '5'], ['content-length', r.pick(['6', '5', '0', '-5', '5, 6'])]);
  },
  'te-cl-smuggling': (d, r) => {
    const chunked = `0${CRLF}${CRLF}${SMUGGLED}`;
    d.body = chunked;
    const te = r.pick(['chunked', ' chunked', 'chunked, identity', 'xchunked', 'Chunked', 'chunked\t']);
    const order: [string, string][] = [['transfer-encoding', te], ['content-length', String(r.chance(0.5) ? 3 : chunked.length)]];
    d.headers.push(...(r.chance(0.5) ? order : order.reverse()));
  },
  'invalid-chunk-size': (d, r) => {
    d.headers.push(['transfer-encoding', 'chunked']);
    d.body = `${r.pick(HOSTILE_CHUNK_SIZES)}${CRLF}hello${CRLF}0${CRLF}${CRLF}`;
  },
  'huge-header': (d, r) => { d.headers.push([`x-huge-${r.int(10)}`, 'v'.repeat(64 * 1024 + r.int(32 * 1024))]); },
  'many-headers': (d, r) => { for (let i = 0, n = 500 + r.int(2000); i < n; i++) d.headers.push([`x-h${i}`, String(i)]); },
  'pipelined': (d, r) => {
    const n = 1 + r.int(4);
    for (let i = 0; i < n; i++) d.tail += `GET /pipelined/${i} HTTP/1.1${CRLF}host: api.shop.svc${CRLF}${CRLF}`;
  },
  'missing-host': (d) => { d.headers = d.headers.filter(([k]) => k !== 'host'); },
  'double-host': (d) => { d.headers.push(['host', 'evil.example']); },
  'junk-tail': (d, r) => { d.tail += r.bytes(1 + r.int(64)).toString('latin1'); },
};

const NAMES = Object.keys(MUTATIONS);

function render(d: Draft): string {
  const head = [`${d.method} ${d.target} ${d.version}`, ...d.headers.map(([k, v]) => `${k}: ${v}`)].join(d.eol);
  return `${head}${d.eol}${d.eol}${d.body}${d.tail}`;
}

/** A valid request with mutations; sometimes flipped bytes or a truncation on top. */
export function mutatedRequest(rnd: Random): H1Case {
  const body = rnd.chance(0.3) ? 'payload' : '';
  const d: Draft = {
    method: body ? 'POST' : 'GET', target: `/fuzz/${rnd.int(1000)}`, version: 'HTTP/1.1', eol: CRLF, body, tail: '',
    headers: [['host', 'api.shop.svc'], ['user-agent', 'skein-fuzz'], ...(body ? [['content-length', String(body.length)] as [string, string]] : [])],
  };
  const mutations: string[] = [];
  for (let i = 0, n = 1 + rnd.int(3); i < n; i++) {
    const name = rnd.pick(NAMES);
    MUTATIONS[name]!(d, rnd);
    mutations.push(name);
  }
  const bytes = Buffer.from(render(d), 'latin1');
  if (rnd.chance(0.15)) {
    for (let i = 0, n = 1 + rnd.int(4); i < n; i++) bytes[rnd.int(bytes.length)] = rnd.int(256);
    mutations.push('flipped-bytes');
  }
  if (rnd.chance(0.15)) {
    mutations.push('truncated');
    return { mutations, bytes: bytes.subarray(0, rnd.int(bytes.length)) };
  }
  return { mutations, bytes };
}
