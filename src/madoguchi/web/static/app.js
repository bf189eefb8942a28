// Progressive enhancement only: every page works without this file.
// - Move focus to the error summary when a form comes back with errors, so screen readers announce it.
// - Ask before a destructive action: a button with data-confirm="question" asks the question first.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
    document.querySelectorAll("button[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.dataset.confirm)) { event.preventDefault(); }
      });
    });
  });
})();
