// Links marked data-autofollow are followed at once (the emulated verification popup hands
// the browser back to the caller); without script the user presses the visible link.
(function () {
  "use strict";
  var link = document.querySelector("a[data-autofollow]");
  if (link) { window.location.replace(link.href); }
})();
