// 약관 전체 동의: the all-agree box ticks or clears every item, and follows them.
// Without script the server reads a ticked all-agree box as agreement to every item.
(function () {
  "use strict";
  var boxes = document.querySelectorAll("[data-terms-all]");
  Array.prototype.forEach.call(boxes, function (all) {
    var items = Array.prototype.slice.call(all.form.querySelectorAll("[data-terms-item]"));
    function follow() {
      all.checked = items.length > 0 && items.every(function (item) { return item.checked; });
    }
    all.addEventListener("change", function () {
      items.forEach(function (item) { item.checked = all.checked; });
    });
    items.forEach(function (item) { item.addEventListener("change", follow); });
    follow();
  });
})();
