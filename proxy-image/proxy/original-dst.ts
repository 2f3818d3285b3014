// Where a redirected connection was going before skein-init's REDIRECT rule
// rewrote it: conntrack remembers, and getsockopt(SO_ORIGINAL_DST) asks it.
// Node has no API for this, so we call libc's getsockopt on the socket's fd.
//
// Why koffi and not a native addon: koffi is a maintained FFI that ships
// prebuilt binaries for linux x64/arm64 (glibc and musl) as npm optional
// dependencies, so neither this checkout nor the proxy image needs a compiler,
// node-gyp or Python, and nothing is rebuilt per Node ABI. The call is one
// syscall per accepted connection, far below where FFI overhead matters. A
// native addon would be a C++ toolchain in every build for ten lines of C.
import type { Socket } from 'node:net';
import { endianness } from 'node:os';
import koffi from 'koffi';
import { SkeinError } from '../../api/errors.ts';

/** netinet/in.h, linux/netfilter_ipv4.h, linux/netfilter_ipv6/ip6_tables.h. */
const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80;
const IP6T_SO_ORIGINAL_DST = 80;
const AF_INET = 2;
const AF_INET6 = 10;
/** sizeof(struct sockaddr_in6): room for either answer. */
const SOCKADDR_SIZE = 28;
const ENOENT = 2;
const ENOPROTOOPT = 92;

export interface OriginalDestination { ip: string; port: number; family: 4 | 6 }

export type OriginalDstErrorCode = 'not_redirected' | 'conntrack_unavailable' | 'no_file_descriptor' | 'getsockopt_failed';

export class OriginalDstError extends SkeinError {
  readonly code: OriginalDstErrorCode;
  constructor(code: OriginalDstErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

type Getsockopt = (fd: number, level: number, name: number, value: Buffer, length: Uint32Array) => number;
let getsockopt: Getsockopt | undefined;

function libcGetsockopt(): Getsockopt {
  getsockopt ??= koffi.load('libc.so.6').func('int getsockopt(int fd, int level, int name, _Inout_ void *value, _Inout_ uint32_t *length)') as Getsockopt;
  return getsockopt;
}

/** Decodes a struct sockaddr_in or sockaddr_in6 as the kernel wrote it: family in host order, port in network order. */
export function decodeSockaddr(buf: Buffer): OriginalDestination {
  const family = endianness() === 'LE' ? buf.readUInt16LE(0) : buf.readUInt16BE(0);
  const port = buf.readUInt16BE(2);
  if (family === AF_INET) return { ip: [...buf.subarray(4, 8)].join('.'), port, family: 4 };
  if (family === AF_INET6) return { ip: formatIPv6(buf.subarray(8, 24)), port, family: 6 };
  throw new OriginalDstError('getsockopt_failed', `getsockopt returned address family ${family}, neither AF_INET nor AF_INET6`);
}

/** RFC 5952 text: lower case, longest run of zero groups as `::`. */
export function formatIPv6(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/** An IPv4 connection accepted on a dual-stack (::) listener still has an IPv4 conntrack entry. */
export function sockoptFor(localAddress: string | undefined): { level: number; name: number } {
  const v6 = localAddress !== undefined && localAddress.includes(':') && !localAddress.toLowerCase().startsWith('::ffff:');
  return v6 ? { level: SOL_IPV6, name: IP6T_SO_ORIGINAL_DST } : { level: SOL_IP, name: SO_ORIGINAL_DST };
}

function fdOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * The address the client dialled before iptables redirected it here. For a
 * connection that was tracked but not NATed, conntrack's answer is the
 * socket's own local address; compare with `socket.localAddress/localPort`
 * to tell the two apart.
 */
export function originalDestination(socket: Socket): OriginalDestination {
  const fd = fdOf(socket);
  if (fd === undefined) {
    throw new OriginalDstError('no_file_descriptor', 'the socket has no file descriptor (closed, or not a TCP socket the server accepted): read the original destination as soon as the connection arrives');
  }
  const { level, name } = sockoptFor(socket.localAddress);
  const buf = Buffer.alloc(SOCKADDR_SIZE);
  const length = new Uint32Array([SOCKADDR_SIZE]);
  if (libcGetsockopt()(fd, level, name, buf, length) !== 0) {
    const errno = koffi.errno();
    if (errno === ENOENT) {
      throw new OriginalDstError('not_redirected', `conntrack has no entry for ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} -> ${socket.localAddress ?? '?'}:${socket.localPort ?? '?'}: the connection was not redirected by skein-init's rules`);
    }
    if (errno === ENOPROTOOPT) {
      throw new OriginalDstError('conntrack_unavailable', 'the kernel does not offer SO_ORIGINAL_DST in this network namespace (no nf_conntrack for this address family): skein-init must have run, with rules for this family');
    }
    throw new OriginalDstError('getsockopt_failed', `getsockopt(SO_ORIGINAL_DST) failed with errno ${errno}`);
  }
  return decodeSockaddr(buf);
}
