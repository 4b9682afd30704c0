// The emulated verification popup's countdown (3 minutes for the SMS code or the app's
// approval). The server decides whether the time is up; this only shows it.
(function () {
  "use strict";
  var el = document.getElementById("countdown");
  if (!el) { return; }
  var left = parseInt(el.getAttribute("data-remaining"), 10) || 0;
  function show() {
    var m = Math.floor(left / 60), s = left % 60;
    el.textContent = m + ":" + (s < 10 ? "0" : "") + s;
  }
  show();
  var timer = setInterval(function () {
    left = Math.max(0, left - 1);
    show();
    if (left === 0) { clearInterval(timer); }
  }, 1000);
})();
