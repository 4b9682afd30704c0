// 인증서찾기: the certificate widget (templates/certificate/_widget.html).
//
// 1. The person picks signCert.der + signPri.key, or one .pfx/.p12, and types the password.
// 2. The key is decrypted HERE (static/npki/keyfiles.js); a wrong password stops here, before
//    any request.
// 3. POST /certificate/challenge {purpose, business_number, next} → {id, to_sign, verify_url}
// 4. Sign to_sign (RSASSA-PKCS1-v1_5, SHA-256) with WebCrypto, then
//    POST verify_url {certificate, signature, random_r, chain} → {next} | {error, message}.
// The private key, its decryption and the password never leave the page: only the certificate
// (public), the signature, R (which the server needs for the VID check) and the chain are sent.

import * as kf from "./keyfiles.js";

// Certificates and key files are a few kilobytes; anything this big is not one.
const MAX_FILE = 256 * 1024;

function readFile(input) {
  const file = input.files && input.files[0];
  if (!file) return Promise.resolve(null);
  if (file.size > MAX_FILE) return Promise.resolve(new Uint8Array(0));  // read as "bad file"
  return file.arrayBuffer().then((b) => new Uint8Array(b));
}

// 정책등급 for display (the manual's picker shows it): the first certificatePolicies OID
// (KOREA-FACTS, "Corporate certificates"). Display only: the server's allow-list decides.
const POLICY_KINDS = {
  general: ["1.2.410.200005.1.1.5", "1.2.410.200004.5.2.1.1", "1.2.410.200004.5.1.1.7",
            "1.2.410.200004.5.4.1.2", "1.2.410.200012.1.1.3", "1.2.410.200004.5.3.1.2",
            "1.2.410.200004.5.3.1.1", "1.2.410.200004.5.5.1.2"],
  restricted: ["1.2.410.200005.1.1.2", "1.2.410.200005.1.1.6.1", "1.2.410.200005.1.1.6.8",
               "1.2.410.200004.5.2.1.5001", "1.2.410.200004.5.2.1.6.257",
               "1.2.410.200012.1.1.9", "1.2.410.200004.5.4.1.5"],
  personal: ["1.2.410.200005.1.1.1", "1.2.410.200004.5.2.1.2", "1.2.410.200004.5.1.1.5",
             "1.2.410.200004.5.4.1.1", "1.2.410.200012.1.1.1"],
};

function policyKind(oid) {
  for (const [kind, oids] of Object.entries(POLICY_KINDS)) if (oids.includes(oid)) return kind;
  return "other";
}

function formatDate(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}.${pad(d.getMonth() + 1)}.${pad(d.getDate())}`;
}

class Widget {
  constructor(root) {
    this.root = root;
    this.d = root.dataset;
    this.q = (sel) => root.querySelector(sel);
    this.certInput = this.q(".npki-cert-file");
    this.keyInput = this.q(".npki-key-file");
    this.pfxInput = this.q(".npki-pfx-file");
    this.password = this.q(".npki-password");
    this.button = this.q(".npki-submit");
    this.status = this.q(".npki-status");
    this.table = this.q(".npki-cert");
    this.busy = false;
  }

  start() {
    this.q(".npki-form").hidden = false;
    if (!globalThis.crypto || !globalThis.crypto.subtle) {
      this.say(this.d.msgUnsupported, true);
      this.button.disabled = true;
      return;
    }
    this.certInput.addEventListener("change", () => {
      if (this.certInput.files.length) this.pfxInput.value = "";
      this.preview();
    });
    this.keyInput.addEventListener("change", () => {
      if (this.keyInput.files.length) this.pfxInput.value = "";
    });
    this.pfxInput.addEventListener("change", () => {
      if (this.pfxInput.files.length) {
        this.certInput.value = "";
        this.keyInput.value = "";
        this.table.hidden = true;
        this.say(this.d.msgPfxChosen, false);
      }
    });
    this.button.addEventListener("click", () => this.run());
    // The widget may sit in another page's form: Enter in the password field is ours.
    this.password.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.run();
      }
    });
  }

  say(message, isError) {
    this.status.textContent = message || "";
    this.status.classList.toggle("error", Boolean(isError && message));
  }

  show(certificate) {
    const name = certificate.subject.cn || certificate.subject.text;
    this.q(".npki-subject").textContent = name;
    let expiry = formatDate(certificate.notAfter);
    if (certificate.notAfter.getTime() < Date.now()) expiry += ` (${this.d.msgExpired})`;
    this.q(".npki-expiry").textContent = expiry;
    this.q(".npki-issuer").textContent = certificate.issuer.o || certificate.issuer.cn;
    const kind = policyKind(certificate.policy);
    this.q(".npki-policy").textContent = this.d[`policy${kind[0].toUpperCase()}${kind.slice(1)}`];
    this.table.hidden = false;
  }

  async preview() {
    const bytes = await readFile(this.certInput);
    if (!bytes) { this.table.hidden = true; return; }
    try {
      this.show(kf.readCertificate(bytes));
      this.say("", false);
    } catch (exc) {
      this.table.hidden = true;
      this.say(this.d.msgBadFile, true);
    }
  }

  businessNumber() {
    if (this.d.businessNumber) return this.d.businessNumber;
    const field = this.d.businessNumberField && document.getElementById(this.d.businessNumberField);
    return field ? field.value : "";
  }

  /** Decrypt locally: {certificate, key, chain}, or a message (nothing sent). */
  async open() {
    const pfx = await readFile(this.pfxInput);
    const cert = await readFile(this.certInput);
    const key = await readFile(this.keyInput);
    if (!pfx && !(cert && key)) return { message: this.d.msgNoFiles, focus: this.certInput };
    const password = this.password.value;
    if (!password) return { message: this.d.msgNoPassword, focus: this.password };
    try {
      return pfx ? await kf.openPfx(pfx, password) : await kf.openSignPri(cert, key, password);
    } catch (exc) {
      if (exc instanceof kf.WrongPassword) {
        this.password.value = "";
        return { message: this.d.msgWrongPassword, focus: this.password, password: true };
      }
      if (exc instanceof kf.KeyMismatch) return { message: this.d.msgMismatch, focus: this.keyInput };
      return { message: this.d.msgBadFile, focus: pfx ? this.pfxInput : this.certInput };
    }
  }

  async post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": this.d.csrf },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    return { ok: response.ok, data };
  }

  async run() {
    if (this.busy) return;
    this.busy = true;
    this.button.disabled = true;
    this.password.removeAttribute("aria-invalid");
    this.say(this.d.msgWorking, false);
    try {
      const opened = await this.open();
      if (opened.message) {
        if (opened.password) this.password.setAttribute("aria-invalid", "true");
        this.say(opened.message, true);
        if (opened.focus) opened.focus.focus();
        return;
      }
      this.password.value = "";  // the key is open: the password is not needed any more
      this.show(opened.certificate);
      const challenge = await this.post(this.d.challengeUrl, {
        purpose: this.d.purpose, business_number: this.businessNumber(), next: this.d.next,
      });
      if (!challenge.ok || !challenge.data || !challenge.data.to_sign) {
        this.say((challenge.data && challenge.data.message) || this.d.msgNetwork, true);
        return;
      }
      const signature = await kf.sign(opened.key.pkcs8, challenge.data.to_sign);
      const verified = await this.post(challenge.data.verify_url, {
        certificate: kf.toBase64(opened.certificate.der),
        signature: kf.toBase64(signature),
        random_r: opened.key.randomR ? kf.toBase64(opened.key.randomR) : null,
        chain: opened.chain.map((c) => kf.toBase64(c.der)),
      });
      if (verified.ok && verified.data && verified.data.next) {
        this.say(this.d.msgDone, false);
        window.location.assign(verified.data.next);
        return;
      }
      this.say((verified.data && verified.data.message) || this.d.msgNetwork, true);
    } catch (exc) {
      this.say(this.d.msgNetwork, true);
    } finally {
      this.busy = false;
      this.button.disabled = false;
    }
  }
}

for (const root of document.querySelectorAll(".npki-widget")) {
  if (!root.dataset.npkiReady) {
    root.dataset.npkiReady = "1";
    new Widget(root).start();
  }
}
