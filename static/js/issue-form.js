// Issuing a certificate from a record: the period field follows the kind chosen. The defaults
// and the help texts come from the form's data attributes (no inline script: see the CSP).
(function () {
  "use strict";
  var form = document.getElementById("issue-form");
  if (!form) return;
  var kind = document.getElementById("kind"), period = document.getElementById("period"),
      help = document.getElementById("kind-help"), award = document.getElementById("award_id");
  var defaults = JSON.parse(form.dataset.defaults || "{}"), helps = JSON.parse(form.dataset.helps || "{}");
  var today = form.dataset.today || "";
  kind.addEventListener("change", function () {
    var k = kind.value, opt = kind.options[kind.selectedIndex];
    period.value = defaults[k] || (k === "registration" ? today : "");
    period.style.display = k === "award" ? "none" : "";
    award.value = opt.dataset.award || "";
    help.textContent = helps[k] || "";
  });
})();
