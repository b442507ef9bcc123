/*
 * Print button without an inline handler: any element with a data-print
 * attribute opens the browser's print dialog (used by the plan d'aide).
 */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target && event.target.closest ? event.target.closest("[data-print]") : null;
    if (target) {
      event.preventDefault();
      window.print();
    }
  });
})();
