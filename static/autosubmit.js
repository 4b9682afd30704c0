// Forms marked data-autosubmit post themselves (the way to and from a verification vendor);
// without script the user presses the visible button.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
})();
