// HTTP/1.1 message heads and body framing, read straight from socket bytes
// (RFC 9112). Hand-written rather than Node's llhttp through node:http: the
// proxy forwards the header block nearly verbatim and bodies as bytes, so it
// needs the framing decision and the hop-by-hop filter, not request/response
// objects; skipping IncomingMessage/ServerResponse per request is most of
// the CPU the raw path saves (bench/proxy.ts). Strict where lenient parsing
// lets two parsers disagree on where a message ends (request smuggling):
// bare LF, obs-fold, Content-Length with Transfer-Encoding, duplicate or
// malformed Content-Length, whitespace before the colon, control bytes.
// Pure functions and small state machines; no I/O.
import type { IncomingHttpHeaders } from 'node:http';

export interface H1Limits {
  /** The head (request or status line and all headers) must fit in this. */
  maxHeaderBytes: number;
  maxHeaders: number;
}

export const DEFAULT_H1_LIMITS: H1Limits = { maxHeaderBytes: 64 * 1024, maxHeaders: 128 };

export type H1ErrorCode =
  | 'header_too_large' | 'too_many_headers' | 'bare_lf' | 'bare_cr' | 'obs_fold' | 'bad_request_line'
  | 'bad_status_line' | 'bad_header' | 'content_length_with_transfer_encoding' | 'duplicate_content_length'
  | 'bad_content_length' | 'bad_transfer_encoding' | 'bad_chunk' | 'trailers_too_large' | 'missing_host';

/** A message that cannot be read safely; `status` is what a server answers (431 for size, else 400). */
export class H1Error extends Error {
  readonly code: H1ErrorCode;
  constructor(code: H1ErrorCode, detail: string) {
    super(`${code.replaceAll('_', ' ')}: ${detail}`);
    this.name = 'H1Error';
    this.code = code;
  }
  get status(): 400 | 431 {
    return this.code === 'header_too_large' || this.code === 'too_many_headers' ? 431 : 400;
  }
}

export type Framing =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Responses only: the body runs until the connection closes. */
  | { kind: 'close' };

/** Header names and values in arrival order, names as sent: `[name0, value0, name1, value1, …]`. */
export type RawHeaders = string[];

/** Lower-cased names; repeated headers joined with ", " (set-cookie kept apart, as node:http does). */
export type HeaderMap = IncomingHttpHeaders;

interface HeadCommon {
  /** 0 or 1, from `HTTP/1.x`. */
  minor: number;
  raw: RawHeaders;
  headers: HeaderMap;
  framing: Framing;
  /** The connection may carry another message after this one. */
  keepAlive: boolean;
}

export interface RequestHead extends HeadCommon {
  method: string;
  target: string;
  /** Upgrade with `Connection: upgrade` (WebSocket and the like). */
  upgrade: boolean;
  expectContinue: boolean;
}

export interface ResponseHead extends HeadCommon {
  status: number;
  reason: string;
}

export interface Parsed<H> {
  head: H;
  /** Offset just past the head's blank line. */
  end: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
// Field values: visible characters, spaces, tabs, obs-text; no other control bytes.
// eslint-disable-next-line no-control-regex -- control bytes are exactly what it looks for
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d{1,15}$/;

/**
 * The head at `start`, or undefined while more bytes are needed.
 * Throws H1Error for what must be refused (the connection is then closed).
 */
export function parseRequestHead(buf: Buffer, start: number, limits: H1Limits = DEFAULT_H1_LIMITS): Parsed<RequestHead> | undefined {
  const lines = headLines(buf, start, limits);
  if (!lines) return undefined;
  const m = REQUEST_LINE.exec(lines.lines[0] ?? '');
  if (!m) throw new H1Error('bad_request_line', JSON.stringify((lines.lines[0] ?? '').slice(0, 80)));
  const method = m[1]!;
  const target = m[2]!;
  const minor = Number(m[3]);
  const { raw, headers } = readHeaders(lines.lines, limits);
  if (minor === 1 && headers.host === undefined) throw new H1Error('missing_host', 'an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)');
  const framing = requestFraming(headers, minor);
  const tokens = connectionTokens(headers.connection);
  const upgrade = headers.upgrade !== undefined && tokens.has('upgrade');
  const expect = headers.expect;
  return {
    head: {
      method, target, minor, raw, headers, framing, upgrade,
      keepAlive: minor === 1 ? !tokens.has('close') : tokens.has('keep-alive'),
      expectContinue: typeof expect === 'string' && expect.toLowerCase() === '100-continue',
    },
    end: lines.end,
  };
}

/** A response head; `method` is the request's (a HEAD answer has no body, RFC 9112 §6.3). */
export function parseResponseHead(buf: Buffer, start: number, method: string, limits: H1Limits = DEFAULT_H1_LIMITS): Parsed<ResponseHead> | undefined {
  const lines = headLines(buf, start, limits);
  if (!lines) return undefined;
  const m = STATUS_LINE.exec(lines.lines[0] ?? '');
  if (!m) throw new H1Error('bad_status_line', JSON.stringify((lines.lines[0] ?? '').slice(0, 80)));
  const minor = Number(m[1]);
  const status = Number(m[2]);
  const { raw, headers } = readHeaders(lines.lines, limits);
  const framing = responseFraming(headers, status, method);
  const tokens = connectionTokens(headers.connection);
  const keepAlive = framing.kind !== 'close' && (minor === 1 ? !tokens.has('close') : tokens.has('keep-alive'));
  return { head: { status, reason: m[3] ?? '', minor, raw, headers, framing, keepAlive }, end: lines.end };
}

function headLines(buf: Buffer, start: number, limits: H1Limits): { lines: string[]; end: number } | undefined {
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
  while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  const at = buf.indexOf(CRLFCRLF, start);
  if (at < 0) {
    const lf = buf.indexOf(0x0a, start);
    if (lf >= 0) checkLineEnds(buf.toString('latin1', start));
    if (buf.length - start > limits.maxHeaderBytes) throw new H1Error('header_too_large', `more than ${limits.maxHeaderBytes} bytes without the end of the head`);
    return undefined;
  }
  if (at + 4 - start > limits.maxHeaderBytes) throw new H1Error('header_too_large', `the head is ${at + 4 - start} bytes, over ${limits.maxHeaderBytes}`);
  const text = buf.toString('latin1', start, at);
  checkLineEnds(text);
  return { lines: text.split('\r\n'), end: at + 4 };
}

/** Every LF must follow a CR and every CR precede an LF: two readers could otherwise split lines differently. */
function checkLineEnds(text: string): void {
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
    if (text.charCodeAt(i - 1) !== 0x0d) throw new H1Error('bare_lf', 'a line ends in LF without CR');
  }
  for (let i = text.indexOf('\r'); i >= 0; i = text.indexOf('\r', i + 1)) {
    if (i + 1 < text.length && text.charCodeAt(i + 1) !== 0x0a) throw new H1Error('bare_cr', 'a CR not followed by LF');
  }
}

function readHeaders(lines: string[], limits: H1Limits): { raw: RawHeaders; headers: HeaderMap } {
  if (lines.length - 1 > limits.maxHeaders) throw new H1Error('too_many_headers', `${lines.length - 1} headers, over ${limits.maxHeaders}`);
  const raw: RawHeaders = [];
  const headers: HeaderMap = {};
  let contentLengths = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c0 = line.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) throw new H1Error('obs_fold', 'a header line continues the previous one (obs-fold, RFC 9112 §5.2)');
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new H1Error('bad_header', `not a header name: ${JSON.stringify(line.slice(0, 40))}`);
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new H1Error('bad_header', `control bytes in the value of ${name}`);
    raw.push(name, value);
    const key = name.toLowerCase();
    if (key === 'content-length' && ++contentLengths > 1) throw new H1Error('duplicate_content_length', 'Content-Length given more than once');
    const had = headers[key];
    if (had === undefined) headers[key] = key === 'set-cookie' ? [value] : value;
    else if (Array.isArray(had)) had.push(value);
    else headers[key] = `${had}, ${value}`;
  }
  return { raw, headers };
}

function contentLength(v: string | string[]): number {
  if (typeof v !== 'string' || !DIGITS.test(v)) throw new H1Error('bad_content_length', `Content-Length ${JSON.stringify(String(v).slice(0, 40))} is not a single decimal number`);
  return Number(v);
}

/** Transfer codings ending in exactly one `chunked`; anything else cannot be framed (RFC 9112 §6.3). */
function isChunked(te: string): boolean {
  const codings = te.toLowerCase().split(',').map((c) => c.trim());
  return codings.at(-1) === 'chunked' && codings.indexOf('chunked') === codings.length - 1 && codings.every((c) => TOKEN.test(c));
}

export function requestFraming(headers: HeaderMap, minor: number): Framing {
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    if (cl !== undefined) throw new H1Error('content_length_with_transfer_encoding', 'both Content-Length and Transfer-Encoding (request smuggling, RFC 9112 §6.1)');
    if (minor === 0) throw new H1Error('bad_transfer_encoding', 'Transfer-Encoding in an HTTP/1.0 request');
    if (typeof te !== 'string' || !isChunked(te)) throw new H1Error('bad_transfer_encoding', `Transfer-Encoding ${JSON.stringify(String(te))} does not end in chunked`);
    return { kind: 'chunked' };
  }
  if (cl !== undefined) {
    const n = contentLength(cl);
    return n === 0 ? { kind: 'none' } : { kind: 'length', length: n };
  }
  return { kind: 'none' };
}

export function responseFraming(headers: HeaderMap, status: number, method: string): Framing {
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    if (cl !== undefined) throw new H1Error('content_length_with_transfer_encoding', 'the response has both Content-Length and Transfer-Encoding');
    return typeof te === 'string' && isChunked(te) ? { kind: 'chunked' } : { kind: 'close' };
  }
  if (cl !== undefined) {
    const n = contentLength(cl);
    return n === 0 ? { kind: 'none' } : { kind: 'length', length: n };
  }
  return { kind: 'close' };
}

export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  if (value === undefined) return out;
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(',')) {
      const token = t.trim().toLowerCase();
      if (token !== '') out.add(token);
    }
  }
  return out;
}

/** Connection-specific headers (RFC 9110 §7.6.1); Transfer-Encoding is not here: bodies cross as the bytes they were. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'upgrade', 'http2-settings']);

export interface SerializeOptions {
  /** Keep Upgrade and send `Connection: upgrade`. */
  upgrade?: boolean;
  /** Send `Connection: close`. */
  close?: boolean;
  /** Names (lower case) dropped besides the hop-by-hop ones. */
  drop?: ReadonlySet<string>;
  /** Added after the kept headers. */
  extra?: Readonly<Record<string, string>>;
}

/** The header block to forward: end-to-end headers as they came, `TE: trailers` kept, the rest of the hop-by-hop ones dropped. */
export function forwardHeaders(raw: RawHeaders, connection: string | string[] | undefined, o: SerializeOptions = {}): string {
  const named = connection === undefined ? undefined : connectionTokens(connection);
  let out = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const key = name.length <= 17 ? name.toLowerCase() : '';
    if (HOP_BY_HOP.has(key)) {
      if (key === 'te' && connectionTokens(value).has('trailers')) out += 'te: trailers\r\n';
      else if (key === 'upgrade' && o.upgrade) out += `${name}: ${value}\r\n`;
      continue;
    }
    const lower = key === '' ? name.toLowerCase() : key;
    if (named?.has(lower) || o.drop?.has(lower)) continue;
    out += `${name}: ${value}\r\n`;
  }
  if (o.extra) for (const k in o.extra) out += `${k}: ${o.extra[k]}\r\n`;
  if (o.upgrade) out += 'connection: upgrade\r\n';
  else if (o.close) out += 'connection: close\r\n';
  return out;
}

export function requestHeadBytes(method: string, target: string, headerBlock: string): Buffer {
  return Buffer.from(`${method} ${target} HTTP/1.1\r\n${headerBlock}\r\n`, 'latin1');
}

export function responseHeadBytes(status: number, reason: string, headerBlock: string): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${reason || REASONS[status] || 'Unknown'}\r\n${headerBlock}\r\n`, 'latin1');
}

const REASONS: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 204: 'No Content', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found',
  408: 'Request Timeout', 431: 'Request Header Fields Too Large', 499: 'Client Closed Request', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/**
 * Finds where a message body ends in the bytes that follow its head, without
 * copying or decoding it: the bytes are forwarded as they came (chunk sizes,
 * extensions and trailers included), so both sides of the proxy agree on the
 * message boundary by construction.
 */
export interface BodyScanner {
  /** Bytes of `buf[start..]` that belong to the body: the offset just past its end, or -1 when all of them do and more follow. */
  scan(buf: Buffer, start: number): number;
  readonly done: boolean;
}

export function bodyScanner(f: Framing, maxTrailerBytes = DEFAULT_H1_LIMITS.maxHeaderBytes): BodyScanner {
  switch (f.kind) {
    case 'none': return { scan: (_b, s) => s, done: true };
    case 'length': return new LengthScanner(f.length);
    case 'chunked': return new ChunkedScanner(maxTrailerBytes);
    case 'close': return { scan: () => -1, done: false };
  }
}

class LengthScanner implements BodyScanner {
  #left: number;
  constructor(length: number) { this.#left = length; }
  get done(): boolean { return this.#left === 0; }
  scan(buf: Buffer, start: number): number {
    const take = Math.min(this.#left, buf.length - start);
    this.#left -= take;
    return this.#left === 0 ? start + take : -1;
  }
}

/** The chunked scanner's states (numbers, not an enum: Node strips types only). */
const C = { Size: 0, SizeDigits: 1, Ext: 2, SizeLf: 3, Data: 4, DataCr: 5, DataLf: 6, LineStart: 7, Trailer: 8, TrailerLf: 9, LastLf: 10, Done: 11 } as const;

/** RFC 9112 §7.1: chunk-size [ext] CRLF data CRLF … 0 [ext] CRLF *(trailer CRLF) CRLF. */
class ChunkedScanner implements BodyScanner {
  #state: number = C.Size;
  #size = 0;
  #digits = 0;
  #trailerBytes = 0;
  readonly #maxTrailer: number;
  constructor(maxTrailerBytes: number) { this.#maxTrailer = maxTrailerBytes; }
  get done(): boolean { return this.#state === C.Done; }

  scan(buf: Buffer, start: number): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.#state) {
        case C.Size:
        case C.SizeDigits: {
          const c = buf[i]!;
          const d = hexValue(c);
          if (d >= 0) {
            if (++this.#digits > 12) throw new H1Error('bad_chunk', 'chunk size too large');
            this.#size = this.#size * 16 + d;
            this.#state = C.SizeDigits;
            i++;
          } else if (this.#state === C.Size) throw new H1Error('bad_chunk', 'a chunk size must start with a hex digit');
          else if (c === 0x0d) { this.#state = C.SizeLf; i++; }
          else if (c === 0x3b || c === 0x20 || c === 0x09) { this.#state = C.Ext; i++; }
          else throw new H1Error('bad_chunk', `byte 0x${c.toString(16)} in a chunk size`);
          break;
        }
        case C.Ext: {
          // Extensions are passed on, not interpreted; only their line end matters.
          const c = buf[i]!;
          if (c === 0x0d) this.#state = C.SizeLf;
          else if (c === 0x0a || (c < 0x20 && c !== 0x09) || c === 0x7f) throw new H1Error('bad_chunk', 'a control byte in a chunk extension');
          else if (++this.#trailerBytes > this.#maxTrailer) throw new H1Error('trailers_too_large', 'chunk extensions too long');
          i++;
          break;
        }
        case C.SizeLf:
          if (buf[i] !== 0x0a) throw new H1Error('bad_chunk', 'a chunk size line must end in CRLF');
          i++;
          this.#digits = 0;
          if (this.#size === 0) { this.#state = C.LineStart; this.#trailerBytes = 0; }
          else this.#state = C.Data;
          break;
        case C.Data: {
          const take = Math.min(this.#size, n - i);
          this.#size -= take;
          i += take;
          if (this.#size === 0) this.#state = C.DataCr;
          break;
        }
        case C.DataCr:
          if (buf[i] !== 0x0d) throw new H1Error('bad_chunk', 'chunk data longer than its size');
          this.#state = C.DataLf;
          i++;
          break;
        case C.DataLf:
          if (buf[i] !== 0x0a) throw new H1Error('bad_chunk', 'chunk data must end in CRLF');
          this.#state = C.Size;
          i++;
          break;
        case C.LineStart:
          // After the last chunk: a trailer field, or the final empty line.
          if (buf[i] === 0x0d) { this.#state = C.LastLf; i++; break; }
          if (buf[i] === 0x20 || buf[i] === 0x09) throw new H1Error('obs_fold', 'a folded trailer line');
          this.#state = C.Trailer;
          break;
        case C.Trailer: {
          const c = buf[i]!;
          if (c === 0x0d) this.#state = C.TrailerLf;
          else if (c === 0x0a || (c < 0x20 && c !== 0x09) || c === 0x7f) throw new H1Error('bad_chunk', 'a control byte in a trailer');
          if (++this.#trailerBytes > this.#maxTrailer) throw new H1Error('trailers_too_large', `trailers over ${this.#maxTrailer} bytes`);
          i++;
          break;
        }
        case C.TrailerLf:
          if (buf[i] !== 0x0a) throw new H1Error('bare_cr', 'a trailer line must end in CRLF');
          this.#state = C.LineStart;
          i++;
          break;
        case C.LastLf:
          if (buf[i] !== 0x0a) throw new H1Error('bad_chunk', 'the chunked body must end in CRLF');
          this.#state = C.Done;
          return i + 1;
        case C.Done:
          return i;
      }
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}
