/**
 * Redis Cluster's key -> slot mapping (CRC16-XMODEM of the key, or of its hash tag, mod 16384),
 * and the hash tag a `globalKeyprefix` fixes for every key kelp writes. Computed here rather than
 * asked of a node (CLUSTER KEYSLOT) so a URL without a usable hash tag is refused before any
 * connection is made.
 */

export const CLUSTER_SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/** CRC16-XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster hashes keys with. */
export function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc;
}

/**
 * The hash tag of a key: what lies between its first `{` and the first `}` after it, when that
 * is not empty; undefined when the whole key is hashed.
 */
export function hashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return key.slice(open + 1, close);
}

/** The slot of a key, as a cluster node computes it. */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashTag(key) ?? key, 'utf8')) % CLUSTER_SLOTS;
}

/**
 * The hash tag every key with this prefix shares, or undefined when the prefix leaves the slot
 * to the rest of the key: no `{`, an empty `{}`, or a `{` whose `}` would come from the queue name.
 */
export function prefixHashTag(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return prefix.slice(open + 1, close);
}
