// Which key exchange group a TLS 1.3 server chose, read from its ServerHello
// on the wire (RFC 8446 §4.1.3, key_share §4.2.8) rather than from the
// runtime's API: Node reports it (getEphemeralKeyInfo), Bun does not, and
// the mesh's post-quantum key exchange must be checked whatever the runtime.
// Pure; used by tests.

/** IANA TLS Supported Groups. */
export const TLS_GROUPS: Record<number, string> = { 0x001d: 'X25519', 0x0017: 'secp256r1', 0x0018: 'secp384r1', 0x11ec: 'X25519MLKEM768', 0x11eb: 'SecP256r1MLKEM768' };

/** The group in the first ServerHello of `bytes` (what a server sent first), or undefined if it is not there (yet). */
export function serverHelloGroup(bytes: Buffer): string | undefined {
  // One record: content type 22 (handshake), version, length; then handshake type 2 (ServerHello).
  if (bytes.length < 9 || bytes[0] !== 0x16 || bytes[5] !== 0x02) return undefined;
  const recordEnd = 5 + bytes.readUInt16BE(3);
  if (bytes.length < recordEnd) return undefined;
  let at = 9 + 2 + 32; // handshake header, legacy_version, random
  at += 1 + (bytes[at] ?? 0); // legacy_session_id_echo
  at += 2 + 1; // cipher_suite, legacy_compression_method
  const extEnd = at + 2 + bytes.readUInt16BE(at);
  at += 2;
  while (at + 4 <= Math.min(extEnd, recordEnd)) {
    const type = bytes.readUInt16BE(at);
    const len = bytes.readUInt16BE(at + 2);
    if (type === 0x0033 && len >= 2) {
      const id = bytes.readUInt16BE(at + 4);
      return TLS_GROUPS[id] ?? `0x${id.toString(16)}`;
    }
    at += 4 + len;
  }
  return undefined;
}
