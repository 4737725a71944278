// Progressive enhancements; every page works without them.
(function () {
  "use strict";

  // "Select all" for the bulk actions (its checkbox is hidden until this script runs).
  function setUpSelectAll() {
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      var name = box.getAttribute("data-select-all");
      var label = box.closest("label");
      if (label) label.hidden = false;
      box.addEventListener("change", function () {
        document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (item) {
          item.checked = box.checked;
        });
      });
    });
  }

  // Copy buttons: data-copy="<id of the field to copy>".
  function setUpCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var field = document.getElementById(button.getAttribute("data-copy"));
        var status = document.querySelector(".copy-status");
        navigator.clipboard.writeText(field.value).then(
          function () { if (status) status.textContent = "Copied to the clipboard."; },
          function () { field.select(); if (status) status.textContent = "Select and copy it by hand."; }
        );
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpSelectAll();
    setUpCopy();
  });
})();
