/* "Add message template": start from the chosen kind's built-in subject and body. */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var key = document.getElementById("id_key");
    var subject = document.getElementById("id_subject");
    var body = document.getElementById("id_body");
    var button = document.querySelector("button.symfonia-built-in-text");
    if (!key || !subject || !body || !button) { return; }
    var filled = {subject: subject.value, body: body.value};  // what was put there last

    // Nothing typed yet: empty, or still the text put there.
    function untouched() {
      return (subject.value === filled.subject && body.value === filled.body) ||
        (!subject.value.trim() && !body.value.trim());
    }

    function fill(asked) {
      if (!key.value) { return; }
      if (!untouched() && !(asked && window.confirm(button.getAttribute("data-confirm")))) {
        return;  // never overwrite what someone typed without asking
      }
      fetch(button.getAttribute("data-url") + "?key=" + encodeURIComponent(key.value), {
        credentials: "same-origin", headers: {"Accept": "application/json"}
      }).then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      }).then(function (text) {
        subject.value = text.subject;
        body.value = text.body;
        filled = {subject: subject.value, body: body.value};
      }).catch(function () { /* the form stays as it was */ });
    }

    key.addEventListener("change", function () { fill(false); });
    button.addEventListener("click", function () { fill(true); });
  });
})();
