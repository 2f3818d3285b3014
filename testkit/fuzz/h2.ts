// Hostile HTTP/2 connections as raw bytes: bad prefaces, invalid frames,
// SETTINGS and PING floods, RST_STREAM floods and "rapid reset", endless
// CONTINUATION, huge HEADERS. Pure: a seed gives bytes.
import type { Random } from './random.ts';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0), declaredLength = payload.length): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(declaredLength & 0xffffff, 0, 3);
  head.writeUInt8(type & 0xff, 3);
  head.writeUInt8(flags & 0xff, 4);
  head.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal without indexing, name and value as plain strings (each under 127 bytes). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')]);
}

/** GET / over http with an authority: indexed :method GET (2), :scheme http (6), :path / (4). */
export function requestBlock(authority = 'grpc.shop.svc'): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x86, 0x84]), literal(':authority', authority)]);
}

const settings = (pairs: [number, number][]) => {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v >>> 0, i * 6 + 2); });
  return frame(FRAME.SETTINGS, 0, 0, p);
};
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const repeat = (n: number, f: (i: number) => Buffer) => Buffer.concat(Array.from({ length: n }, (_, i) => f(i)));

export interface H2Case { attack: string; bytes: Buffer }

type Attack = (rnd: Random) => Buffer;

export const ATTACKS: Readonly<Record<string, Attack>> = {
  'bad-preface': (r) => { const p = Buffer.from(PREFACE); const i = 8 + r.int(PREFACE.length - 8); p[i] = p[i]! ^ (1 + r.int(255)); return p; },
  'truncated-preface': (r) => PREFACE.subarray(0, 4 + r.int(PREFACE.length - 4)),
  'settings-flood': (r) => repeat(500 + r.int(2000), () => settings([[r.int(8), r.int(1 << 16)]])),
  'settings-invalid': (r) => settings([r.pick<[number, number]>([[2, 7], [4, 0x80000000], [5, 1], [5, 0x1000000]])]),
  'settings-bad-length': (r) => frame(FRAME.SETTINGS, 0, 0, r.bytes(1 + r.int(5))),
  'settings-on-stream': () => frame(FRAME.SETTINGS, 0, 1, Buffer.alloc(0)),
  'ping-flood': (r) => repeat(1000 + r.int(3000), () => frame(FRAME.PING, 0, 0, r.bytes(8))),
  'rapid-reset': (r) => repeat(200 + r.int(800), (i) => Buffer.concat([
    frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2 * i + 1, requestBlock()),
    frame(FRAME.RST_STREAM, 0, 2 * i + 1, u32(8)),
  ])),
  'rst-flood-idle': (r) => repeat(500 + r.int(1500), (i) => frame(FRAME.RST_STREAM, 0, 2 * i + 1, u32(r.int(14)))),
  'continuation-flood': (r) => Buffer.concat([
    frame(FRAME.HEADERS, 0, 1, requestBlock()),
    repeat(1000 + r.int(4000), () => frame(FRAME.CONTINUATION, 0, 1, literal('x-c', 'v'.repeat(60)))),
  ]),
  'huge-headers': (r) => {
    const block = Buffer.concat([requestBlock(), repeat(1200 + r.int(800), (i) => literal(`x-${i}`, 'v'.repeat(100)))]);
    const first = block.subarray(0, 16_384);
    const rest = [];
    for (let o = 16_384; o < block.length; o += 16_384) rest.push(block.subarray(o, o + 16_384));
    return Buffer.concat([frame(FRAME.HEADERS, rest.length ? 0 : FLAG.END_HEADERS, 1, first),
      ...rest.map((c, i) => frame(FRAME.CONTINUATION, i === rest.length - 1 ? FLAG.END_HEADERS : 0, 1, c))]);
  },
  'headers-bad-hpack': (r) => frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, r.bytes(1 + r.int(64))),
  'headers-even-stream': () => frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2, requestBlock()),
  'headers-stream-zero': () => frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 0, requestBlock()),
  'data-on-idle-stream': (r) => frame(FRAME.DATA, FLAG.END_STREAM, 1 + 2 * r.int(100), r.bytes(16)),
  'window-update-zero': (r) => frame(FRAME.WINDOW_UPDATE, 0, r.int(2), u32(0)),
  'window-update-overflow': () => repeat(3, () => frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))),
  'oversized-frame': (r) => frame(FRAME.DATA, 0, 1, r.bytes(64), 16_385 + r.int(1 << 20)),
  'push-promise-from-client': () => frame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, 1, Buffer.concat([u32(2), requestBlock()])),
  'padded-too-long': () => frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.PADDED, 1, Buffer.concat([Buffer.from([200]), requestBlock()])),
  'unknown-type': (r) => frame(10 + r.int(240), r.int(256), r.int(10), r.bytes(r.int(32))),
  'random-frames': (r) => repeat(1 + r.int(20), () => frame(r.int(12), r.int(256), r.int(8), r.bytes(r.int(40)))),
  'goaway-then-headers': () => Buffer.concat([frame(FRAME.GOAWAY, 0, 0, Buffer.concat([u32(0), u32(0)])), frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, requestBlock())]),
};

const NAMES = Object.keys(ATTACKS);

/** An attack after a valid preface and SETTINGS (except the preface attacks, which replace them). */
export function hostileConnection(rnd: Random): H2Case {
  const attack = rnd.pick(NAMES);
  const body = ATTACKS[attack]!(rnd);
  const bytes = attack.includes('preface') ? body : Buffer.concat([PREFACE, settings([]), body]);
  return { attack, bytes };
}
