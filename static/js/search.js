// Registry search: results as you type. The same page is asked for its results part only.
(function () {
  "use strict";
  var form = document.getElementById("search-form"), box = document.getElementById("results");
  if (!form || !box) return;
  var timer = null, seq = 0;
  function run() {
    var params = new URLSearchParams(new FormData(form)), mine = ++seq;
    params.set("partial", "1");
    fetch("/practitioners?" + params.toString(), {headers: {"Accept": "text/html"}, credentials: "same-origin"})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) return;  // an older answer arriving late
        box.innerHTML = html;
        params.delete("partial");
        history.replaceState(null, "", "/practitioners?" + params.toString());
      });
  }
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 250); });
})();
