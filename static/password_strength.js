// The new-password pages: 안전도 (strength) of the password and whether the confirmation
// matches, announced politely. The server checks the policy itself; this only helps.
(function () {
  "use strict";
  function strength(pw, min) {
    var kinds = [/[A-Za-z]/, /[0-9]/, /[^A-Za-z0-9\s]/].filter(function (re) {
      return re.test(pw);
    }).length;
    if (pw.length < min || kinds < 3) { return 0; }
    return pw.length >= min + 4 ? 2 : 1;
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-strength]"), function (input) {
    var out = document.getElementById(input.getAttribute("data-strength"));
    var labels = out.getAttribute("data-labels").split("|");
    var min = parseInt(input.getAttribute("data-min"), 10) || 9;
    input.addEventListener("input", function () {
      out.textContent = input.value ? labels[strength(input.value, min)] : "";
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-confirm]"), function (input) {
    var first = document.getElementById(input.getAttribute("data-confirm"));
    var out = document.getElementById(input.getAttribute("aria-describedby"));
    var labels = out.getAttribute("data-labels").split("|");
    function check() {
      out.textContent = input.value ? labels[input.value === first.value ? 0 : 1] : "";
    }
    input.addEventListener("input", check);
    first.addEventListener("input", check);
  });
})();
