// Triple DES (FIPS 46-3, EDE with three keys; SP 800-67) in CBC mode, decryption only: the
// legacy .pfx/.p12 files (pbeWithSHAAnd3-KeyTripleDES-CBC, RFC 7292 Appendix C) that Korean
// certificate exports still produce. WebCrypto has no DES. A plain bit-level implementation:
// a key file is a few hundred blocks. Checked against OpenSSL in tests/browser/test_npki_widget.py.

const IP = [58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
  62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
  57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
  61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7];
const E = [32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17,
  16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1];
const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
  2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
const PC1 = [57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
  10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
  63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
  14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4];
const PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8,
  16, 7, 27, 20, 13, 2, 41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
  44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32];
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
const S = [
  [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
    4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
  [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
    0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
  [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
    13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
  [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
    10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
  [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
    4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
  [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
    9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
  [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
    1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
  [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
    7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];

function bits(bytes) {
  const out = new Uint8Array(bytes.length * 8);
  for (let i = 0; i < out.length; i++) out[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}

function fromBits(b) {
  const out = new Uint8Array(b.length / 8);
  for (let i = 0; i < b.length; i++) out[i >> 3] |= b[i] << (7 - (i & 7));
  return out;
}

const permute = (input, table) => Uint8Array.from(table, (p) => input[p - 1]);

function subkeys(key8) {
  const cd = permute(bits(key8), PC1);
  let c = Array.from(cd.subarray(0, 28)), d = Array.from(cd.subarray(28));
  const keys = [];
  for (const s of SHIFTS) {
    c = c.slice(s).concat(c.slice(0, s));
    d = d.slice(s).concat(d.slice(0, s));
    keys.push(permute(Uint8Array.from(c.concat(d)), PC2));
  }
  return keys;
}

function f(r, k) {
  const x = permute(r, E);
  for (let i = 0; i < 48; i++) x[i] ^= k[i];
  const out = new Uint8Array(32);
  for (let s = 0; s < 8; s++) {
    const b = x.subarray(6 * s, 6 * s + 6);
    const v = S[s][((b[0] << 1) | b[5]) * 16 + ((b[1] << 3) | (b[2] << 2) | (b[3] << 1) | b[4])];
    for (let j = 0; j < 4; j++) out[4 * s + j] = (v >> (3 - j)) & 1;
  }
  return permute(out, P);
}

const FP = (() => {
  const inverse = new Array(64);
  IP.forEach((p, i) => { inverse[p - 1] = i + 1; });
  return inverse;
})();

function desBlock(keys, block, decrypt) {
  const x = permute(bits(block), IP);
  let l = x.subarray(0, 32), r = x.subarray(32);
  for (let i = 0; i < 16; i++) {
    const fk = f(r, keys[decrypt ? 15 - i : i]);
    const n = new Uint8Array(32);
    for (let j = 0; j < 32; j++) n[j] = l[j] ^ fk[j];
    l = r;
    r = n;
  }
  const rl = new Uint8Array(64);
  rl.set(r);
  rl.set(l, 32);
  return fromBits(permute(rl, FP));
}

export class BadPadding extends Error {}

/** 3DES-EDE-CBC decryption (24-byte key, 8-byte IV) and PKCS#7 unpadding. */
export function tripleDesCbcDecrypt(key, iv, data) {
  if (key.length !== 24 || iv.length !== 8) throw new RangeError("3DES takes 24 + 8 bytes");
  if (data.length === 0 || data.length % 8 !== 0) throw new BadPadding("not whole blocks");
  const k1 = subkeys(key.subarray(0, 8)), k2 = subkeys(key.subarray(8, 16));
  const k3 = subkeys(key.subarray(16, 24));
  const out = new Uint8Array(data.length);
  for (let o = 0; o < data.length; o += 8) {
    const block = data.subarray(o, o + 8);
    const plain = desBlock(k1, desBlock(k2, desBlock(k3, block, true), false), true);
    for (let j = 0; j < 8; j++) out[o + j] = plain[j] ^ (o === 0 ? iv[j] : data[o - 8 + j]);
  }
  const pad = out[out.length - 1];
  if (pad < 1 || pad > 8) throw new BadPadding("bad padding");
  for (let j = out.length - pad; j < out.length; j++) {
    if (out[j] !== pad) throw new BadPadding("bad padding");
  }
  return out.slice(0, out.length - pad);
}
