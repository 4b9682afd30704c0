// 회원가입 STEP3: 중복확인 of the ID (GET …/check-id, JSON; the server decides and throttles).
// Without script the ID is checked when the tab is saved.
(function () {
  "use strict";
  var button = document.getElementById("check-id");
  var input = document.getElementById("login_id");
  var out = document.getElementById("id-check");
  if (!button || !input || !out) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    var url = button.getAttribute("data-url") + "?login_id=" + encodeURIComponent(input.value);
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        out.textContent = body.message || "";
        out.setAttribute("data-status", body.status || "");
      })
      .catch(function () { out.textContent = ""; });
  });
})();
