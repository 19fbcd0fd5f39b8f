// Every page: behaviour that would otherwise sit in inline handlers, which the
// Content-Security-Policy forbids.
document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
