// NPKI key files in the browser: signCert.der + signPri.key, or a .pfx/.p12, opened with the
// certificate password, locally. Nothing here talks to the network.
//
// - signPri.key: PKCS#8 EncryptedPrivateKeyInfo (RFC 5958 §3) under KISA's
//   seedCBCWithSHA1 (1.2.410.200004.1.15: PBKDF1-SHA1, key = dk[0:16],
//   iv = SHA1(dk[16:20])[0:16]) or PBES2 (RFC 8018 §6.2: PBKDF2 + SEED-CBC 1.2.410.200004.1.4,
//   or AES-CBC).
// - The decrypted PrivateKeyInfo's attributes hold R (1.2.410.200004.10.1.1.3, BIT STRING),
//   which the server needs for the VID check; some keys have none.
// - .pfx/.p12 (RFC 7292): PBES2 (AES or SEED) shrouded key bags and encrypted certificate
//   bags, or the legacy pbeWithSHAAnd3-KeyTripleDES-CBC (Appendix B/C; static/npki/des.js).
//   The MAC is not checked: a wrong password already fails the key's padding or structure.

import * as der from "./der.js";
import * as seed from "./seed.js";
import * as des from "./des.js";

const OID = {
  SEED_CBC_WITH_SHA1: "1.2.410.200004.1.15",
  SEED_CBC: "1.2.410.200004.1.4",
  PBES2: "1.2.840.113549.1.5.13",
  PBKDF2: "1.2.840.113549.1.5.12",
  HMAC_SHA1: "1.2.840.113549.2.7",
  HMAC_SHA256: "1.2.840.113549.2.9",
  AES128_CBC: "2.16.840.1.101.3.4.1.2",
  AES192_CBC: "2.16.840.1.101.3.4.1.22",
  AES256_CBC: "2.16.840.1.101.3.4.1.42",
  PBE_SHA1_3DES: "1.2.840.113549.1.12.1.3",
  RANDOM_NUM: "1.2.410.200004.10.1.1.3",
  RSA: "1.2.840.113549.1.1.1",
  DATA: "1.2.840.113549.1.7.1",
  ENCRYPTED_DATA: "1.2.840.113549.1.7.6",
  KEY_BAG: "1.2.840.113549.1.12.10.1.1",
  SHROUDED_KEY_BAG: "1.2.840.113549.1.12.10.1.2",
  CERT_BAG: "1.2.840.113549.1.12.10.1.3",
  X509_CERT: "1.2.840.113549.1.9.22.1",
  CN: "2.5.4.3", O: "2.5.4.10", OU: "2.5.4.11", C: "2.5.4.6",
  CERT_POLICIES: "2.5.29.32",
};

/** The password does not open the key (padding or structure wrong after decryption). */
export class WrongPassword extends Error {}
/** Not a certificate / key file we can read. */
export class BadKeyFile extends Error {}
/** The certificate and the private key are not a pair. */
export class KeyMismatch extends Error {}

const subtle = () => {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new BadKeyFile("WebCrypto is not available (a secure context is needed)");
  }
  return globalThis.crypto.subtle;
};

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function utf8(text) {
  return new TextEncoder().encode(text);
}

export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// --- key derivation ---------------------------------------------------------------------

/** PBKDF1 with SHA-1 (RFC 8018 §5.1), through WebCrypto's SHA-1. */
export async function pbkdf1Sha1(password, salt, iterations, length = 20) {
  if (length > 20) throw new RangeError("PBKDF1-SHA1 yields at most 20 bytes");
  let t = new Uint8Array(await subtle().digest("SHA-1", concat(password, salt)));
  for (let i = 1; i < iterations; i++) t = new Uint8Array(await subtle().digest("SHA-1", t));
  return t.slice(0, length);
}

/** PBKDF2 (RFC 8018 §5.2) with HMAC-SHA-1 or HMAC-SHA-256, through WebCrypto. */
export async function pbkdf2(password, salt, iterations, length, hash = "SHA-1") {
  const base = await subtle().importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle().deriveBits({ name: "PBKDF2", salt, iterations, hash }, base,
                                         length * 8);
  return new Uint8Array(bits);
}

/** RFC 7292 Appendix B.2 with SHA-1 (id 1 key, 2 IV, 3 MAC); password as BMPString + 00 00. */
export async function pkcs12Kdf(passwordText, salt, iterations, id, length) {
  const pw = new Uint8Array(passwordText.length * 2 + 2);
  for (let i = 0; i < passwordText.length; i++) {
    pw[2 * i] = passwordText.charCodeAt(i) >> 8;
    pw[2 * i + 1] = passwordText.charCodeAt(i) & 0xff;
  }
  const u = 20, v = 64;
  const stretch = (data) => {
    if (data.length === 0) return new Uint8Array(0);
    const out = new Uint8Array(v * Math.ceil(data.length / v));
    for (let i = 0; i < out.length; i++) out[i] = data[i % data.length];
    return out;
  };
  const I = concat(stretch(salt), stretch(pw));
  const D = new Uint8Array(v).fill(id);
  const out = new Uint8Array(length);
  for (let done = 0; done < length; done += u) {
    let a = new Uint8Array(await subtle().digest("SHA-1", concat(D, I)));
    for (let i = 1; i < iterations; i++) a = new Uint8Array(await subtle().digest("SHA-1", a));
    out.set(a.subarray(0, Math.min(u, length - done)), done);
    const B = new Uint8Array(v);
    for (let i = 0; i < v; i++) B[i] = a[i % u];
    for (let j = 0; j < I.length; j += v) {  // I_j = (I_j + B + 1) mod 2^(8v)
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const s = I[j + k] + B[k] + carry;
        I[j + k] = s & 0xff;
        carry = s >> 8;
      }
    }
  }
  return out;
}

// --- EncryptedPrivateKeyInfo / PBES ---------------------------------------------------------

async function aesCbcDecrypt(key, iv, data) {
  try {
    const k = await subtle().importKey("raw", key, "AES-CBC", false, ["decrypt"]);
    return new Uint8Array(await subtle().decrypt({ name: "AES-CBC", iv }, k, data));
  } catch (exc) {
    if (exc && exc.name === "OperationError") throw new WrongPassword("bad padding");
    throw exc;
  }
}

/** Decrypt (algorithm identifier, ciphertext) with the password: PBES1-KISA, PBES2, PKCS#12 PBE. */
export async function pbeDecrypt(algorithm, encrypted, passwordText) {
  const password = utf8(passwordText);
  const [algOid, params] = der.seq(algorithm);
  const oid = der.oid(algOid);
  try {
    if (oid === OID.SEED_CBC_WITH_SHA1) {
      const [salt, count] = der.seq(params);
      const dk = await pbkdf1Sha1(password, der.octets(salt), der.smallInt(count), 20);
      const iv = new Uint8Array(await subtle().digest("SHA-1", dk.slice(16, 20))).slice(0, 16);
      return seed.cbcDecrypt(dk.slice(0, 16), iv, encrypted);
    }
    if (oid === OID.PBE_SHA1_3DES) {
      const [salt, count] = der.seq(params);
      const s = der.octets(salt), n = der.smallInt(count);
      const key = await pkcs12Kdf(passwordText, s, n, 1, 24);
      const iv = await pkcs12Kdf(passwordText, s, n, 2, 8);
      return des.tripleDesCbcDecrypt(key, iv, encrypted);
    }
    if (oid !== OID.PBES2) throw new BadKeyFile(`unsupported key encryption ${oid}`);
    const [kdf, scheme] = der.seq(params);
    const [kdfOid, kdfParams] = der.seq(kdf);
    if (der.oid(kdfOid) !== OID.PBKDF2) throw new BadKeyFile("PBES2 without PBKDF2");
    const kp = der.seq(kdfParams);
    const salt = der.octets(kp[0]);
    const iterations = der.smallInt(kp[1]);
    let hash = "SHA-1";
    for (const extra of kp.slice(2)) {
      if (extra.tag === der.TAG.SEQUENCE) {
        const prf = der.oid(der.seq(extra)[0]);
        if (prf === OID.HMAC_SHA256) hash = "SHA-256";
        else if (prf !== OID.HMAC_SHA1) throw new BadKeyFile(`unsupported PRF ${prf}`);
      }
    }
    const [encOid, ivNode] = der.seq(scheme);
    const enc = der.oid(encOid);
    const iv = der.octets(ivNode);
    const sizes = { [OID.SEED_CBC]: 16, [OID.AES128_CBC]: 16, [OID.AES192_CBC]: 24,
                    [OID.AES256_CBC]: 32 };
    if (!(enc in sizes)) throw new BadKeyFile(`unsupported cipher ${enc}`);
    const key = await pbkdf2(password, salt, iterations, sizes[enc], hash);
    if (enc === OID.SEED_CBC) return seed.cbcDecrypt(key, iv, encrypted);
    return await aesCbcDecrypt(key, iv, encrypted);
  } catch (exc) {
    if (exc instanceof seed.BadPadding || exc instanceof des.BadPadding) {
      throw new WrongPassword("bad padding");
    }
    if (exc instanceof der.DerError) throw new BadKeyFile(exc.message);
    throw exc;
  }
}

/** The PrivateKeyInfo inside an EncryptedPrivateKeyInfo (signPri.key or a shrouded key bag). */
export async function decryptPrivateKeyInfo(bytes, passwordText) {
  let algorithm, data;
  try {
    [algorithm, data] = der.seq(der.parse(bytes));
    data = der.octets(data);
  } catch (exc) {
    throw new BadKeyFile(`not an EncryptedPrivateKeyInfo (${exc.message})`);
  }
  const pki = await pbeDecrypt(algorithm, data, passwordText);
  try {
    return readPrivateKeyInfo(pki);
  } catch (exc) {
    // padding happened to look right (1 in 256) but the plaintext is noise
    throw new WrongPassword(`the decrypted key is not a PrivateKeyInfo (${exc.message})`);
  }
}

/** {pkcs8 (the PrivateKeyInfo without attributes, for WebCrypto), randomR, modulus}. */
export function readPrivateKeyInfo(pki) {
  const parts = der.seq(der.parse(pki));
  if (parts.length < 3 || der.smallInt(parts[0]) > 1) throw new der.DerError("not PKCS#8");
  if (der.oid(der.seq(parts[1])[0]) !== OID.RSA) throw new der.DerError("not an RSA key");
  const rsa = der.seq(der.parse(der.octets(parts[2])));
  const modulus = der.bigInt(rsa[1]);
  der.bigInt(rsa[3]);  // the private exponent is there
  let randomR = null;
  for (const extra of parts.slice(3)) {
    if (extra.tag !== 0xa0) continue;  // [0] IMPLICIT Attributes
    for (const attribute of der.children(extra)) {
      const [type, values] = der.seq(attribute);
      if (der.oid(type) === OID.RANDOM_NUM) {
        randomR = der.bitString(der.seq(values, der.TAG.SET)[0]).slice();
      }
    }
  }
  const pkcs8 = der.wrap(der.TAG.SEQUENCE, parts.slice(0, 3).map(der.raw));
  return { pkcs8, randomR, modulus };
}

// --- certificates -----------------------------------------------------------------------------

function readName(node) {
  const out = { cn: "", o: "", ou: [], c: "", text: "" };
  const rdns = [];
  for (const rdn of der.seq(node)) {
    for (const atv of der.seq(rdn, der.TAG.SET)) {
      const [type, value] = der.seq(atv);
      const t = der.oid(type);
      let v;
      try { v = der.string(value); } catch { continue; }
      if (t === OID.CN) out.cn = v;
      else if (t === OID.O) out.o = v;
      else if (t === OID.OU) out.ou.push(v);
      else if (t === OID.C) out.c = v;
      const label = { [OID.CN]: "CN", [OID.O]: "O", [OID.OU]: "OU", [OID.C]: "C" }[t];
      if (label) rdns.push(`${label}=${v}`);
    }
  }
  out.text = rdns.reverse().join(", ");
  return out;
}

/** What the picker shows, and the public modulus to pair the key with. */
export function readCertificate(bytes) {
  try {
    const [tbs] = der.seq(der.parse(bytes));
    let fields = der.seq(tbs);
    if (fields[0].tag === 0xa0) fields = fields.slice(1);  // [0] version
    const serial = der.content(der.expect(fields[0], der.TAG.INTEGER));
    const issuer = readName(fields[2]);
    const [notBefore, notAfter] = der.seq(fields[3]).map(der.time);
    const subject = readName(fields[4]);
    const [spkiAlg, spkiKey] = der.seq(fields[5]);
    let modulus = null;
    if (der.oid(der.seq(spkiAlg)[0]) === OID.RSA) {
      modulus = der.bigInt(der.seq(der.parse(der.bitString(spkiKey)))[0]);
    }
    let policy = "";
    for (const f of fields.slice(6)) {
      if (f.tag !== 0xa3) continue;  // [3] extensions
      for (const ext of der.seq(der.children(f)[0])) {
        const e = der.seq(ext);
        if (der.oid(e[0]) === OID.CERT_POLICIES) {
          const policies = der.seq(der.parse(der.octets(e[e.length - 1])));
          policy = der.oid(der.seq(policies[0])[0]);
        }
      }
    }
    const hex = Array.from(serial, (b) => b.toString(16).padStart(2, "0")).join("");
    return { der: bytes, subject, issuer, notBefore, notAfter, serial: hex, modulus, policy };
  } catch (exc) {
    if (exc instanceof der.DerError) throw new BadKeyFile(`not a certificate (${exc.message})`);
    throw exc;
  }
}

// --- the two ways in -------------------------------------------------------------------------

/** signCert.der + signPri.key → {certificate, key: {pkcs8, randomR}, chain: []}. */
export async function openSignPri(certBytes, keyBytes, passwordText) {
  const certificate = readCertificate(certBytes);
  const key = await decryptPrivateKeyInfo(keyBytes, passwordText);
  if (!certificate.modulus || !equal(certificate.modulus, key.modulus)) {
    throw new KeyMismatch("the key is not the certificate's");
  }
  return { certificate, key, chain: [] };
}

function bagsOf(safeContents) {
  return der.seq(der.parse(safeContents)).map((bag) => {
    const [id, value] = der.seq(bag);
    return { id: der.oid(id), value: der.children(der.expect(value, 0xa0))[0] };
  });
}

/** A .pfx/.p12 → {certificate, key, chain} (the end-entity certificate is the key's). */
export async function openPfx(bytes, passwordText) {
  let authSafe;
  try {
    const [version, contentInfo] = der.seq(der.parse(bytes));
    if (der.smallInt(version) !== 3) throw new der.DerError("not PKCS#12 v3");
    const [type, content] = der.seq(contentInfo);
    if (der.oid(type) !== OID.DATA) throw new der.DerError("public-key protected pfx");
    authSafe = der.seq(der.parse(der.octets(der.children(content)[0])));
  } catch (exc) {
    if (exc instanceof der.DerError) throw new BadKeyFile(`not a pfx (${exc.message})`);
    throw exc;
  }
  const bags = [];
  for (const info of authSafe) {
    const [type, content] = der.seq(info);
    const t = der.oid(type);
    if (t === OID.DATA) {
      bags.push(...bagsOf(der.octets(der.children(content)[0])));
    } else if (t === OID.ENCRYPTED_DATA) {
      const [, eci] = der.seq(der.children(content)[0]);  // EncryptedData {version, eci}
      const [, algorithm, encrypted] = der.seq(eci);
      const plain = await pbeDecrypt(algorithm, der.octets(encrypted), passwordText);
      try {
        bags.push(...bagsOf(plain));
      } catch (exc) {
        throw new WrongPassword(`the certificates did not decrypt (${exc.message})`);
      }
    }
  }
  let key = null;
  const certs = [];
  for (const bag of bags) {
    if (bag.id === OID.SHROUDED_KEY_BAG && !key) {
      key = await decryptPrivateKeyInfo(der.raw(bag.value), passwordText);
    } else if (bag.id === OID.KEY_BAG && !key) {
      key = readPrivateKeyInfo(der.raw(bag.value));
    } else if (bag.id === OID.CERT_BAG) {
      const [certType, certValue] = der.seq(bag.value);
      if (der.oid(certType) === OID.X509_CERT) {
        certs.push(readCertificate(der.octets(der.children(certValue)[0]).slice()));
      }
    }
  }
  if (!key) throw new BadKeyFile("no private key in the pfx");
  const certificate = certs.find((c) => c.modulus && equal(c.modulus, key.modulus));
  if (!certificate) throw new KeyMismatch("no certificate for the key in the pfx");
  return { certificate, key, chain: certs.filter((c) => c !== certificate) };
}

/** RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2) over the UTF-8 text, via WebCrypto. */
export async function sign(pkcs8, text) {
  const key = await subtle().importKey("pkcs8", pkcs8,
                                       { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false,
                                       ["sign"]);
  return new Uint8Array(await subtle().sign("RSASSA-PKCS1-v1_5", key, utf8(text)));
}

export { OID };
