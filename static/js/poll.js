// A job's page (import, certificate batch) reloads itself until the job ends: while the job is
// queued or running the page holds an element with data-poll="<milliseconds>".
(function () {
  "use strict";
  var marker = document.querySelector("[data-poll]");
  var every = marker ? parseInt(marker.getAttribute("data-poll"), 10) : 0;
  if (every > 0) setTimeout(function () { location.reload(); }, every);
})();
