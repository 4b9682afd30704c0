// SEED-128, the Korean block cipher (RFC 4269), with CBC and PKCS#7 padding (RFC 5652 §6.3).
// WebCrypto has no SEED; NPKI key files (signPri.key) are encrypted with it.
//
// The S-boxes are built from their algebraic definition (RFC 4269 §2 and Appendix A):
//   S1(x) = A(1) · x^247 ⊕ 169,  S2(x) = A(2) · x^251 ⊕ 56   in GF(2^8) mod x^8+x^6+x^5+x+1,
// the affine maps given below by the images of the eight unit vectors; the four SS tables of
// the G function are S1/S2 masked with m0..m3 (Appendix A). Checked against all four test
// vectors of RFC 4269 Appendix B and against OpenSSL (tests/browser/test_npki_widget.py).

const A1 = [0x2c, 0xd0, 0x69, 0xc2, 0x41, 0x44, 0x58, 0xe2];
const A2 = [0xd0, 0x2a, 0xe1, 0x2c, 0x21, 0x30, 0xa2, 0x6c];
const M0 = 0xfc, M1 = 0xf3, M2 = 0xcf, M3 = 0x3f;

function gfMul(a, b) {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    b >>= 1;
    a <<= 1;
    if (a & 0x100) a ^= 0x163;
  }
  return r;
}

function gfPow(x, e) {
  let r = 1;
  for (let i = 0; i < e; i++) r = gfMul(r, x);
  return r;
}

function affine(columns, y, c) {
  let z = c;
  for (let b = 0; b < 8; b++) if ((y >> b) & 1) z ^= columns[b];
  return z;
}

const SS0 = new Uint32Array(256), SS1 = new Uint32Array(256);
const SS2 = new Uint32Array(256), SS3 = new Uint32Array(256);
for (let x = 0; x < 256; x++) {
  const s1 = affine(A1, gfPow(x, 247), 169);
  const s2 = affine(A2, gfPow(x, 251), 56);
  SS0[x] = (((s1 & M3) << 24) | ((s1 & M2) << 16) | ((s1 & M1) << 8) | (s1 & M0)) >>> 0;
  SS1[x] = (((s2 & M0) << 24) | ((s2 & M3) << 16) | ((s2 & M2) << 8) | (s2 & M1)) >>> 0;
  SS2[x] = (((s1 & M1) << 24) | ((s1 & M0) << 16) | ((s1 & M3) << 8) | (s1 & M2)) >>> 0;
  SS3[x] = (((s2 & M2) << 24) | ((s2 & M1) << 16) | ((s2 & M0) << 8) | (s2 & M3)) >>> 0;
}

function G(x) {
  return (SS0[x & 0xff] ^ SS1[(x >>> 8) & 0xff] ^ SS2[(x >>> 16) & 0xff] ^ SS3[x >>> 24]) >>> 0;
}

// KC_i = golden ratio constant rotated left by i (RFC 4269 §2.2).
const KC = new Uint32Array(16);
KC[0] = 0x9e3779b9;
for (let i = 1; i < 16; i++) KC[i] = ((KC[i - 1] << 1) | (KC[i - 1] >>> 31)) >>> 0;

function word(b, o) {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function putWord(b, o, w) {
  b[o] = w >>> 24; b[o + 1] = (w >>> 16) & 0xff; b[o + 2] = (w >>> 8) & 0xff; b[o + 3] = w & 0xff;
}

/** The 32 round-key words of a 16-byte key (RFC 4269 §2.2). */
export function keySchedule(key) {
  if (key.length !== 16) throw new RangeError("SEED takes a 16-byte key");
  let k0 = word(key, 0), k1 = word(key, 4), k2 = word(key, 8), k3 = word(key, 12);
  const ks = new Uint32Array(32);
  for (let i = 0; i < 16; i++) {
    ks[2 * i] = G((k0 + k2 - KC[i]) >>> 0);
    ks[2 * i + 1] = G((k1 - k3 + KC[i]) >>> 0);
    if (i % 2 === 0) {  // rounds 1, 3, ...: K0||K1 rotated right by 8
      const t = k0;
      k0 = ((k0 >>> 8) | (k1 << 24)) >>> 0;
      k1 = ((k1 >>> 8) | (t << 24)) >>> 0;
    } else {            // rounds 2, 4, ...: K2||K3 rotated left by 8
      const t = k2;
      k2 = ((k2 << 8) | (k3 >>> 24)) >>> 0;
      k3 = ((k3 << 8) | (t >>> 24)) >>> 0;
    }
  }
  return ks;
}

// The round function F (RFC 4269 §2.1) on (c, d) with the round keys ka, kb.
function F(c, d, ka, kb, out) {
  let c1 = (c ^ ka) >>> 0;
  let d1 = (d ^ kb) >>> 0;
  d1 = G((d1 ^ c1) >>> 0);
  c1 = G((c1 + d1) >>> 0);
  d1 = G((d1 + c1) >>> 0);
  c1 = (c1 + d1) >>> 0;
  out[0] = c1;
  out[1] = d1;
}

function crypt(ks, input, inOff, output, outOff, decrypt) {
  let l0 = word(input, inOff), l1 = word(input, inOff + 4);
  let r0 = word(input, inOff + 8), r1 = word(input, inOff + 12);
  const t = [0, 0];
  for (let i = 0; i < 16; i++) {
    const k = decrypt ? 15 - i : i;
    F(r0, r1, ks[2 * k], ks[2 * k + 1], t);
    const n0 = (l0 ^ t[0]) >>> 0, n1 = (l1 ^ t[1]) >>> 0;
    l0 = r0; l1 = r1; r0 = n0; r1 = n1;
  }
  // the last round does not swap
  putWord(output, outOff, r0); putWord(output, outOff + 4, r1);
  putWord(output, outOff + 8, l0); putWord(output, outOff + 12, l1);
}

export function encryptBlock(ks, block) {
  const out = new Uint8Array(16);
  crypt(ks, block, 0, out, 0, false);
  return out;
}

export function decryptBlock(ks, block) {
  const out = new Uint8Array(16);
  crypt(ks, block, 0, out, 0, true);
  return out;
}

/** Thrown when the last block's PKCS#7 padding is wrong: almost always a wrong password. */
export class BadPadding extends Error {}

export function cbcEncrypt(key, iv, plaintext) {
  const ks = keySchedule(key);
  const pad = 16 - (plaintext.length % 16);
  const data = new Uint8Array(plaintext.length + pad);
  data.set(plaintext);
  data.fill(pad, plaintext.length);
  const out = new Uint8Array(data.length);
  let prev = Uint8Array.from(iv);
  for (let o = 0; o < data.length; o += 16) {
    const block = new Uint8Array(16);
    for (let j = 0; j < 16; j++) block[j] = data[o + j] ^ prev[j];
    crypt(ks, block, 0, out, o, false);
    prev = out.subarray(o, o + 16);
  }
  return out;
}

export function cbcDecrypt(key, iv, ciphertext) {
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw new BadPadding("not a whole number of blocks");
  }
  const ks = keySchedule(key);
  const out = new Uint8Array(ciphertext.length);
  for (let o = 0; o < ciphertext.length; o += 16) {
    crypt(ks, ciphertext, o, out, o, true);
    for (let j = 0; j < 16; j++) {
      out[o + j] ^= o === 0 ? iv[j] : ciphertext[o - 16 + j];
    }
  }
  const pad = out[out.length - 1];
  if (pad < 1 || pad > 16) throw new BadPadding("bad padding");
  for (let j = out.length - pad; j < out.length; j++) {
    if (out[j] !== pad) throw new BadPadding("bad padding");
  }
  return out.slice(0, out.length - pad);
}
