// The new-password pages: 안전도 (strength) of the password and whether the confirmation
// matches, announced politely. The server checks the policy itself; this only helps.
//
// The estimate is idp/services/password_strength.py ported line for line (integers only, so
// both give the same cost and score; tests/unit/password_strength_vectors.json is checked in
// both). Markup contract:
//   <input data-strength="OUT_ID" data-min="9" [data-context="ID ID"]>  the password
//   <p id="OUT_ID" data-labels="하|중|상">                               the meter
//   <input data-confirm="PASSWORD_ID" aria-describedby="OUT_ID">          the confirmation
//   <p id="OUT_ID" data-labels="일치|불일치">
// data-context names inputs (the ID, the name) whose values count as dictionary words.
(function () {
  "use strict";
  var MAX_CHARS = 64, MIN_WORD = 4, MIN_SCORE = 2;
  var SCORE_LIMITS = [200, 280, 360, 450];
  var LEET = {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s",
              "$": "s", "7": "t", "+": "t"};
  var KEYBOARD_ROWS = ["`1234567890-=", "~!@#$%^&*()_+", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"];
  var ranks = {};

  function lower(c) { return c >= "A" && c <= "Z" ? String.fromCharCode(c.charCodeAt(0) + 32) : c; }
  function bitLength(n) { var b = 0; while (n > 0) { b += 1; n = Math.floor(n / 2); } return b; }
  function cp(c) { return c.codePointAt(0); }
  function charCost(c) {
    if (c >= "0" && c <= "9") { return 33; }
    if ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z")) { return 47; }
    if (c >= " " && c <= "~") { return 50; }
    return 60;
  }
  function userWords(inputs) {
    var words = {};
    (inputs || []).forEach(function (value) {
      var word = Array.from((value || "").trim()).map(lower).join("");
      if (Array.from(word).length >= 2) { words[word] = true; }
    });
    return words;
  }
  function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }

  function estimate(password, userInputs) {
    var chars = Array.from(password).slice(0, MAX_CHARS);
    var n = chars.length, i, j, k, d;
    var lo = chars.map(lower);
    var unleet = lo.map(function (c) { return has(LEET, c) ? LEET[c] : c; });
    var users = userWords(userInputs);
    var matches = [];
    function rankOf(word) { return has(users, word) ? 1 : (has(ranks, word) ? ranks[word] : 0); }
    // Dictionary words, plain or l33t.
    for (i = 0; i < n; i += 1) {
      for (j = i + 2; j <= n; j += 1) {
        var word = lo.slice(i, j).join("");
        if (j - i < MIN_WORD && !has(users, word)) { continue; }
        var upper = chars.slice(i, j).some(function (c) { return c >= "A" && c <= "Z"; }) ? 10 : 0;
        var rank = rankOf(word);
        if (rank) { matches.push([i, j, 10 * bitLength(rank) + upper]); continue; }
        var plain = unleet.slice(i, j).join("");
        rank = plain !== word ? rankOf(plain) : 0;
        if (rank) { matches.push([i, j, 10 * bitLength(rank) + upper + 10]); }
      }
    }
    // Repeats: aaa.
    i = 0;
    while (i < n) {
      j = i + 1;
      while (j < n && chars[j] === chars[i]) { j += 1; }
      if (j - i >= 3) { matches.push([i, j, charCost(chars[i]) + 10 * bitLength(j - i)]); }
      i = j;
    }
    // Sequences: abc, 321.
    i = 0;
    while (i < n - 2) {
      d = cp(chars[i + 1]) - cp(chars[i]);
      if (d === 1 || d === -1) {
        j = i + 1;
        while (j + 1 < n && cp(chars[j + 1]) - cp(chars[j]) === d) { j += 1; }
        if (j - i + 1 >= 3) { matches.push([i, j + 1, 40 + 10 * bitLength(j - i + 1)]); }
        i = j;
      } else {
        i += 1;
      }
    }
    // Keyboard runs on one row: qwer, asdf, 7890.
    KEYBOARD_ROWS.forEach(function (row) {
      var a, b, dd, x;
      x = 0;
      while (x < n - 1) {
        a = row.indexOf(lo[x]); b = row.indexOf(lo[x + 1]); dd = b - a;
        if (a >= 0 && b >= 0 && (dd === 1 || dd === -1)) {
          var y = x + 1;
          while (y + 1 < n && row.indexOf(lo[y + 1]) >= 0 &&
                 row.indexOf(lo[y + 1]) - row.indexOf(lo[y]) === dd) { y += 1; }
          if (y - x + 1 >= 4) { matches.push([x, y + 1, 60 + 10 * bitLength(y - x + 1)]); }
          x = y;
        } else {
          x += 1;
        }
      }
    });
    // Years 1900-2039.
    for (i = 0; i < n - 3; i += 1) {
      var digits = chars.slice(i, i + 4).join("");
      if (/^[0-9]{4}$/.test(digits) && +digits >= 1900 && +digits <= 2039) {
        matches.push([i, i + 4, 70]);
      }
    }
    // The cheapest cover.
    var best = [0];
    for (k = 1; k <= n; k += 1) {
      best[k] = best[k - 1] + charCost(chars[k - 1]);
      for (var m = 0; m < matches.length; m += 1) {
        var mt = matches[m];
        if (mt[1] === k && best[mt[0]] + mt[2] < best[k]) { best[k] = best[mt[0]] + mt[2]; }
      }
    }
    var total = best[n], score = 0;
    while (score < SCORE_LIMITS.length && total >= SCORE_LIMITS[score]) { score += 1; }
    return {cost: total, score: score,
            level: score < MIN_SCORE ? 0 : (score === MIN_SCORE ? 1 : 2)};
  }

  function loadRanks(text) {
    var next = {}, count = 0;
    text.split("\n").forEach(function (line) {
      var word = line.trim();
      if (word && word.charAt(0) !== "#" && !has(next, word)) { count += 1; next[word] = count; }
    });
    ranks = next;
  }

  var script = document.currentScript;
  var listUrl = (script && script.getAttribute("data-common")) ||
    (script ? script.src.replace(/password_strength\.js(\?.*)?$/, "common_passwords.txt") : "");
  var ready = (listUrl && window.fetch ? fetch(listUrl, {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.text() : ""; })
    .then(loadRanks)
    .catch(function () { return undefined; }) : Promise.resolve());

  window.kotraPasswordStrength = {estimate: estimate, ready: ready};

  function policyShape(pw, min) {
    var kinds = [/[A-Za-z]/, /[0-9]/, /[^A-Za-z0-9\s]/].filter(function (re) {
      return re.test(pw);
    }).length;
    return pw.length >= min && kinds >= 3;
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-strength]"), function (input) {
    var out = document.getElementById(input.getAttribute("data-strength"));
    var labels = out.getAttribute("data-labels").split("|");
    var min = parseInt(input.getAttribute("data-min"), 10) || 9;
    var context = (input.getAttribute("data-context") || "").split(/\s+/).filter(Boolean)
      .map(function (id) { return document.getElementById(id); }).filter(Boolean);
    function show() {
      if (!input.value) { out.textContent = ""; return; }
      var level = policyShape(input.value, min) ? estimate(input.value, context.map(function (el) {
        return el.value !== undefined ? el.value : el.textContent;
      })).level : 0;
      out.textContent = labels[Math.min(level, labels.length - 1)];
      out.setAttribute("data-level", String(level));
    }
    input.addEventListener("input", show);
    ready.then(show);
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-confirm]"), function (input) {
    var first = document.getElementById(input.getAttribute("data-confirm"));
    // the first id of aria-describedby (an error message may follow it)
    var out = document.getElementById(input.getAttribute("aria-describedby").split(/\s+/)[0]);
    var labels = out.getAttribute("data-labels").split("|");
    function check() {
      out.textContent = input.value ? labels[input.value === first.value ? 0 : 1] : "";
    }
    input.addEventListener("input", check);
    first.addEventListener("input", check);
  });
})();
