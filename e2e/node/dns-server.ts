// The cluster DNS server on the wire: UDP and TCP on one address, answers
// for the cluster domain from `resolve` (dns.ts), every other name forwarded
// to the host's resolvers as CoreDNS's `forward . /etc/resolv.conf` does, so a
// pod resolves what the host resolves; an upstream that does not answer gives
// SERVFAIL (a failure to retry, not a claim the name does not exist).
// A packet that does not decode as a query is counted and dropped: a reply to
// garbage could be aimed at a spoofed source.
import dgram from 'node:dgram';
import net from 'node:net';
import { decode, encode, AUTHORITATIVE_ANSWER, RECURSION_AVAILABLE, RECURSION_DESIRED, TRUNCATED_RESPONSE, type Answer, type DecodedPacket, type OptAnswer } from 'dns-packet';
import type { Resolution } from './dns.ts';

const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODES;

/** Without EDNS a UDP answer is at most 512 bytes; with it, what the client offers, up to the usual safe 1232. */
const CLASSIC_UDP_LIMIT = 512;
const EDNS_UDP_LIMIT = 1232;
const TCP_IDLE_MS = 10_000;

export interface DnsStats {
  queries: number;
  forwarded: number;
  forwardFailures: number;
  malformed: number;
}

export interface Upstream { host: string; port: number }

export interface DnsServerOptions {
  host: string;
  /** 0 picks a free port (tests); see `port` after start. */
  port: number;
  resolve: (question: { name: string; type: string }) => Resolution;
  upstreams: readonly Upstream[];
  forwardTimeoutMs?: number;
  log: (msg: string) => void;
}

/** The decoded fields dns-packet returns but its types leave out. */
type Query = DecodedPacket & { opcode?: string };

export class DnsServer {
  readonly #o: DnsServerOptions;
  readonly stats: DnsStats = { queries: 0, forwarded: 0, forwardFailures: 0, malformed: 0 };
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  readonly #connections = new Set<net.Socket>();

  constructor(o: DnsServerOptions) {
    this.#o = o;
  }

  /** The bound port (the same for UDP and TCP). */
  get port(): number {
    return this.#udp?.address().port ?? 0;
  }

  async start(): Promise<void> {
    // Port 0 picks a free UDP port, which may be taken for TCP: then another try, a bounded number of times.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#bind();
        return;
      } catch (err) {
        await this.stop();
        const inUse = (err as { code?: string }).code === 'EADDRINUSE';
        if (this.#o.port !== 0 || !inUse || attempt >= 5) throw err;
      }
    }
  }

  async #bind(): Promise<void> {
    const udp = dgram.createSocket('udp4');
    this.#udp = udp;
    udp.on('message', (msg, rinfo) => {
      void this.answer(msg, 'udp').then((reply) => {
        // After stop() the socket is closed and send would throw.
        if (reply && this.#udp === udp) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.#o.port, this.#o.host, () => { udp.off('error', reject); resolve(); });
    });
    udp.on('error', (err) => this.#o.log(`dns: udp: ${err.message}`));
    const tcp = net.createServer((socket) => { this.#serveTcp(socket); });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, this.#o.host, () => { tcp.off('error', reject); resolve(); });
    });
    this.#tcp = tcp;
  }

  async stop(): Promise<void> {
    for (const s of this.#connections) s.destroy();
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    await Promise.all([
      new Promise<void>((resolve) => {
        try { if (udp) udp.close(() => resolve()); else resolve(); } catch { resolve(); /* never bound */ }
      }),
      new Promise<void>((resolve) => { if (tcp) tcp.close(() => resolve()); else resolve(); }),
    ]);
  }

  /** One message in, the reply out; undefined means drop it. */
  async answer(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let query: Query;
    try {
      query = decode(msg);
    } catch {
      this.#malformed(msg.length);
      return undefined;
    }
    if (query.type !== 'query') { this.#malformed(msg.length); return undefined; }
    this.stats.queries++;
    const question = query.questions?.[0];
    if (query.opcode !== 'QUERY') return encodeReply(query, 'NOTIMP', transport);
    if (!question || query.questions?.length !== 1) return encodeReply(query, 'FORMERR', transport);
    try {
      const resolution = this.#o.resolve(question);
      if (resolution.kind === 'forward') return await this.#forward(query, msg, transport);
      return encodeReply(query, resolution.rcode, transport, resolution);
    } catch (err) {
      // A bug of ours must cost one answer, never the server (it runs inside the local node).
      this.#o.log(`dns: ${question.type} ${question.name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return encodeReply(query, 'SERVFAIL', transport);
    }
  }

  #malformed(bytes: number): void {
    this.stats.malformed++;
    // Logged on the first and then every hundredth, so a flood cannot fill the log.
    if (this.stats.malformed % 100 === 1) this.#o.log(`dns: dropped a malformed packet of ${bytes} bytes (${this.stats.malformed} so far)`);
  }

  async #forward(query: Query, msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer> {
    this.stats.forwarded++;
    const timeoutMs = this.#o.forwardTimeoutMs ?? 2_000;
    for (const upstream of this.#o.upstreams) {
      try {
        return await (transport === 'udp' ? exchangeUdp : exchangeTcp)(upstream, msg, timeoutMs);
      } catch { /* the next upstream, as a stub resolver tries its nameservers in turn */ }
    }
    this.stats.forwardFailures++;
    return encodeReply(query, 'SERVFAIL', transport);
  }

  /** DNS over TCP: each message behind a two-byte length, several per connection. */
  #serveTcp(socket: net.Socket): void {
    this.#connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (const msg of takeFrames(pending)) {
        void this.answer(msg, 'tcp').then((reply) => {
          if (!reply) { socket.destroy(); return; }
          if (!socket.destroyed) socket.write(frame(reply));
        });
      }
      pending = pending.subarray(framedLength(pending));
    });
  }
}

/** Whole length-prefixed messages at the start of `buf`. */
export function takeFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (buf.length - at >= 2) {
    const len = buf.readUInt16BE(at);
    if (buf.length - at - 2 < len) break;
    out.push(buf.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
}

function framedLength(buf: Buffer): number {
  return takeFrames(buf).reduce((n, m) => n + 2 + m.length, 0);
}

function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

function ednsOf(query: DecodedPacket): OptAnswer | undefined {
  return query.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
}

/** The reply to `query`: authoritative for our zone, truncated (TC, no records) when too big for UDP. */
export function encodeReply(query: DecodedPacket, rcode: Rcode, transport: 'udp' | 'tcp', records?: { answers: Answer[]; additionals: Answer[]; authorities: Answer[] }): Buffer {
  const edns = ednsOf(query);
  const opt: Answer[] = edns ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_LIMIT, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [];
  const flags = ((query.flags ?? 0) & RECURSION_DESIRED) | RECURSION_AVAILABLE | (records ? AUTHORITATIVE_ANSWER : 0) | RCODES[rcode];
  const base = { type: 'response' as const, id: query.id ?? 0, questions: query.questions ?? [] };
  const full = encode({ ...base, flags, answers: records?.answers ?? [], authorities: records?.authorities ?? [], additionals: [...(records?.additionals ?? []), ...opt] });
  const limit = edns ? Math.min(Math.max(edns.udpPayloadSize, CLASSIC_UDP_LIMIT), EDNS_UDP_LIMIT) : CLASSIC_UDP_LIMIT;
  if (transport === 'tcp' || full.length <= limit) return full;
  return encode({ ...base, flags: flags | TRUNCATED_RESPONSE, additionals: opt });
}

/** One query to one upstream over UDP, on a socket of its own, so replies cannot cross. */
export function exchangeUdp(upstream: Upstream, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const id = msg.readUInt16BE(0);
    const done = (err: Error | undefined, reply?: Buffer) => {
      clearTimeout(timer);
      socket.close();
      if (reply) resolve(reply); else reject(err ?? new Error('no reply'));
    };
    const timer = setTimeout(() => done(new Error(`${upstream.host}:${upstream.port} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('message', (reply, rinfo) => {
      if (rinfo.address === upstream.host && reply.length >= 2 && reply.readUInt16BE(0) === id) done(undefined, reply);
    });
    socket.send(msg, upstream.port, upstream.host);
  });
}

export function exchangeTcp(upstream: Upstream, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: upstream.host, port: upstream.port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${upstream.host}:${upstream.port} did not answer within ${timeoutMs} ms`)));
    let buf = Buffer.alloc(0);
    socket.on('connect', () => socket.write(frame(msg)));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const [reply] = takeFrames(buf);
      if (reply) { socket.destroy(); resolve(Buffer.from(reply)); }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`${upstream.host}:${upstream.port} closed the connection without an answer`)));
  });
}

/** The host's nameservers from resolv.conf text, without `self` (forwarding to ourselves would loop). */
export function upstreamsOf(resolvConf: string, self: string): Upstream[] {
  return resolvConf.split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0] === 'nameserver' && f[1] && net.isIPv4(f[1]) && f[1] !== self)
    .map((f) => ({ host: f[1] ?? '', port: 53 }));
}
