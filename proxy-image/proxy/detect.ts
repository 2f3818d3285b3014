// Protocol detection: read the first bytes a client sends, decide what it
// speaks, and put the bytes back so the next layer reads the stream from its
// start. Server-speaks-first protocols (MySQL, SMTP...) send nothing, so the
// wait is bounded and a silent client is treated as opaque TCP (Linkerd's
// behaviour since linkerd2-proxy#896).
import type { Socket } from 'node:net';

export type Protocol = 'http1' | 'http2' | 'tls' | 'opaque';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Enough for the H2 preface and any HTTP/1 request line we care to recognise. */
const MAX_PEEK = 8 * 1024;
const HTTP1_REQUEST_LINE = /^[A-Z][A-Z0-9_-]{0,31} \S+ HTTP\/1\.[01]\r?$/;
const HTTP1_METHOD_PREFIX = /^[A-Z][A-Z0-9_-]{0,31}( |$)/;

/**
 * What the bytes seen so far say, or `undefined` while more are needed.
 * Pure: the detection loop and the tests both call it.
 */
export function classify(head: Buffer, final = false): Protocol | undefined {
  if (head.length === 0) return final ? 'opaque' : undefined;
  // TLS record: handshake (0x16), major version 3.
  if (head[0] === 0x16) {
    if (head.length < 2) return final ? 'opaque' : undefined;
    return head[1] === 0x03 ? 'tls' : 'opaque';
  }
  const n = Math.min(head.length, H2_PREFACE.length);
  if (head.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
    if (head.length >= H2_PREFACE.length) return 'http2';
    return final ? 'opaque' : undefined;
  }
  const text = head.toString('latin1');
  const eol = text.indexOf('\n');
  if (eol >= 0) return HTTP1_REQUEST_LINE.test(text.slice(0, eol)) ? 'http1' : 'opaque';
  // No end of line yet: keep reading only while it still looks like a request line.
  if (final || head.length >= MAX_PEEK) return 'opaque';
  if (!HTTP1_METHOD_PREFIX.test(text.slice(0, 33))) return 'opaque';
  return hasControlBytes(head) ? 'opaque' : undefined;
}

/** Bytes no request line contains (tab, CR and LF are allowed). */
function hasControlBytes(b: Buffer): boolean {
  for (const c of b) if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  return false;
}

export interface Detection {
  protocol: Protocol;
  /** Why the protocol was chosen, for logs: `bytes`, `timeout`, `closed`. */
  by: 'bytes' | 'timeout' | 'closed';
  /**
   * Bytes that could not be put back because the client had already ended its
   * side (a stream cannot be unshifted after `end`): the next layer must send
   * them on itself. Only with `by: 'closed'`.
   */
  unread?: Buffer;
}

/**
 * Peeks at a socket until `classify` decides or `timeoutMs` passes. The bytes
 * read are unshifted before resolving, so whatever the socket is handed to
 * (an http server, a TLS server, a pipe) sees them first.
 */
export function detect(socket: Socket, timeoutMs: number): Promise<Detection> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (protocol: Protocol, by: Detection['by']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
      const head = Buffer.concat(chunks);
      if (head.length > 0 && socket.readableEnded) { resolve({ protocol, by, unread: head }); return; }
      if (head.length > 0) socket.unshift(head);
      resolve({ protocol, by });
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) chunks.push(chunk);
      const p = classify(Buffer.concat(chunks));
      if (p) finish(p, 'bytes');
    };
    const onEnd = () => finish(classify(Buffer.concat(chunks), true) ?? 'opaque', 'closed');
    const timer = setTimeout(() => finish(classify(Buffer.concat(chunks), true) ?? 'opaque', 'timeout'), timeoutMs);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onEnd);
  });
}
