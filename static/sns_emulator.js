// The SNS emulators' "back to the service" page (idp/web/sns_emulators.py): go on at once.
(function () {
  var link = document.getElementById("sns-emulator-continue");
  if (link) { window.location.replace(link.href); }
})();
