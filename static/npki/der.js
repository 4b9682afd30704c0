// A minimal DER reader (X.690 §8, §10) for key files and certificates, with the two BER
// liberties some PKCS#12 writers take: indefinite lengths and constructed OCTET STRINGs (their
// parts joined). No writer beyond re-wrapping a SEQUENCE.

export class DerError extends Error {}

export const TAG = {
  BOOLEAN: 0x01, INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06,
  UTF8: 0x0c, SEQUENCE: 0x30, SET: 0x31, PRINTABLE: 0x13, T61: 0x14, IA5: 0x16,
  UTC_TIME: 0x17, GENERALIZED_TIME: 0x18, BMP: 0x1e,
};

/** One element: {tag, constructed, start, header, length, contentEnd, end, bytes}. BER's
 *  indefinite length (constructed only, ended by 00 00) is accepted: some PKCS#12 writers
 *  use it; `end` is then after the end-of-contents octets. */
export function read(bytes, offset = 0, limit = bytes.length, depth = 0) {
  if (offset + 2 > limit) throw new DerError("truncated");
  if (depth > 64) throw new DerError("too deep");
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not used here");
  const constructed = (tag & 0x20) !== 0;
  let pos = offset + 1;
  let length = bytes[pos++];
  if (length === 0x80) {
    if (!constructed) throw new DerError("indefinite length on a primitive");
    let p = pos;
    for (;;) {
      if (p + 2 > limit) throw new DerError("truncated");
      if (bytes[p] === 0 && bytes[p + 1] === 0) break;
      p = read(bytes, p, limit, depth + 1).end;
    }
    return { tag, constructed, start: offset, header: pos - offset, length: p - pos,
             contentEnd: p, end: p + 2, bytes };
  }
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n > 4 || pos + n > limit) throw new DerError("bad length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[pos++];
  }
  const end = pos + length;
  if (end > limit) throw new DerError("truncated");
  return { tag, constructed, start: offset, header: pos - offset, length, contentEnd: end, end,
           bytes };
}

/** The top-level element, which must fill the buffer. */
export function parse(bytes) {
  const node = read(bytes, 0);
  if (node.end !== bytes.length) throw new DerError("trailing bytes");
  return node;
}

export function children(node) {
  if (!node.constructed) throw new DerError("not constructed");
  const out = [];
  let pos = node.start + node.header;
  while (pos < node.contentEnd) {
    const child = read(node.bytes, pos, node.contentEnd);
    out.push(child);
    pos = child.end;
  }
  return out;
}

export function expect(node, tag) {
  if (node.tag !== tag) {
    throw new DerError(`expected tag ${tag.toString(16)}, found ${node.tag.toString(16)}`);
  }
  return node;
}

/** The element's children, checking its tag (SEQUENCE by default). */
export function seq(node, tag = TAG.SEQUENCE) {
  return children(expect(node, tag));
}

export function content(node) {
  return node.bytes.subarray(node.start + node.header, node.contentEnd);
}

export function raw(node) {
  return node.bytes.subarray(node.start, node.end);
}

/** An OCTET STRING's bytes (primitive, or BER constructed: the parts joined). */
export function octets(node) {
  if ((node.tag & 0x1f) !== TAG.OCTET_STRING && node.tag !== 0x80 && node.tag !== 0xa0) {
    throw new DerError("not an OCTET STRING");
  }
  if (!node.constructed) return content(node);
  const parts = children(node).map(octets);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function bitString(node) {
  const c = content(expect(node, TAG.BIT_STRING));
  if (c.length === 0 || c[0] > 7) throw new DerError("bad BIT STRING");
  return c.subarray(1);
}

export function oid(node) {
  const c = content(expect(node, TAG.OID));
  if (c.length === 0) throw new DerError("empty OID");
  const parts = [];
  let value = 0;
  for (let i = 0; i < c.length; i++) {
    value = value * 128 + (c[i] & 0x7f);
    if (!(c[i] & 0x80)) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else {
        parts.push(value);
      }
      value = 0;
    }
  }
  return parts.join(".");
}

/** A non-negative INTEGER as a Number (iteration counts, versions). */
export function smallInt(node) {
  const c = content(expect(node, TAG.INTEGER));
  if (c.length === 0 || c.length > 6 || (c[0] & 0x80)) throw new DerError("bad INTEGER");
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

/** An INTEGER's magnitude bytes without leading zeros (moduli). */
export function bigInt(node) {
  let c = content(expect(node, TAG.INTEGER));
  while (c.length > 1 && c[0] === 0) c = c.subarray(1);
  return c;
}

export function string(node) {
  const c = content(node);
  switch (node.tag) {
    case TAG.BMP: {
      let s = "";
      for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode((c[i] << 8) | c[i + 1]);
      return s;
    }
    case TAG.UTF8: case TAG.PRINTABLE: case TAG.IA5: case TAG.T61:
      return new TextDecoder("utf-8", { fatal: false }).decode(c);
    default:
      throw new DerError("not a string");
  }
}

/** UTCTime (RFC 5280 §4.1.2.5.1: YY < 50 is 20YY) or GeneralizedTime, as a Date. */
export function time(node) {
  const s = new TextDecoder("ascii").decode(content(node));
  let m;
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
    if (!m) throw new DerError("bad UTCTime");
    const yy = Number(m[1]);
    m[1] = String(yy < 50 ? 2000 + yy : 1900 + yy);
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
    if (!m) throw new DerError("bad GeneralizedTime");
  } else {
    throw new DerError("not a time");
  }
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]),
                           Number(m[5]), Number(m[6])));
}

function lengthBytes(n) {
  if (n < 0x80) return [n];
  const out = [];
  while (n > 0) { out.unshift(n & 0xff); n = Math.floor(n / 256); }
  return [0x80 | out.length, ...out];
}

/** tag + length + the parts joined (to rebuild a PrivateKeyInfo without its attributes). */
export function wrap(tag, parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const head = [tag, ...lengthBytes(length)];
  const out = new Uint8Array(head.length + length);
  out.set(head);
  let o = head.length;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
