/**
 * Address formatting for the decoder's hot path: a dump of a busy table
 * formats hundreds of thousands of addresses, so this avoids building
 * intermediate strings or Buffers.
 */

const HEX = Array.from({ length: 65536 }, (_, i) => i.toString(16));

/** Dotted quad of the 4 bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** Canonical text form (RFC 5952) of the 16 bytes at `offset`. */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) {
    groups[i] = (bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!;
  }
  // IPv4-mapped addresses keep the dotted quad (RFC 5952 section 5).
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  }
  // The longest run of two or more zero groups (the first if tied) becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.map((g) => HEX[g]).join(':');
  const head = groups.slice(0, bestStart).map((g) => HEX[g]);
  const tail = groups.slice(bestStart + bestLength).map((g) => HEX[g]);
  return `${head.join(':')}::${tail.join(':')}`;
}
