// The unread-reminder badge in the page header: one small request after the page has loaded.
(function () {
  var badge = document.getElementById("reminders-badge");
  if (!badge || !window.fetch) return;
  fetch("/api/reminders/unread", { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (body) {
      if (body && body.unread > 0) {
        badge.textContent = body.unread > 99 ? "99+" : String(body.unread);
        badge.hidden = false;
      }
    })
    .catch(function () {});
})();
