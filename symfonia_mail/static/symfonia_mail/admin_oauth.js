/* Sign-in fields: show those of the chosen method (password, Microsoft 365, Google). */
(function () {
  "use strict";
  var ROWS = {
    password: ["password", "clear_password"],
    microsoft365: ["oauth_tenant", "oauth_client_id", "oauth_client_secret",
                   "clear_oauth_client_secret", "oauth_connection"],
    google: ["oauth_client_id", "oauth_client_secret", "clear_oauth_client_secret",
             "oauth_connection"]
  };
  var ALL = ["password", "clear_password", "oauth_tenant", "oauth_client_id",
             "oauth_client_secret", "clear_oauth_client_secret", "oauth_connection"];

  function row(name) {
    return document.querySelector(".form-row.field-" + name) ||
      document.querySelector(".field-" + name);
  }

  function update(select) {
    var shown = ROWS[select.value] || [];
    ALL.forEach(function (name) {
      var element = row(name);
      if (element) { element.hidden = shown.indexOf(name) === -1; }
    });
    // The connection state of the stored method while it is chosen, else "not connected yet".
    var states = document.querySelectorAll(".symfonia-oauth-state[data-for-method]");
    var stored = Array.prototype.some.call(states, function (p) {
      return p.getAttribute("data-for-method") === select.value;
    });
    states.forEach(function (p) {
      var method = p.getAttribute("data-for-method");
      p.hidden = stored ? method !== select.value : method !== "";
    });
    // Only the Connect button of the chosen provider.
    document.querySelectorAll(".symfonia-oauth-button[data-auth-method]").forEach(function (b) {
      var method = b.getAttribute("data-auth-method");
      b.hidden = method !== "" && method !== select.value;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_auth_method");
    if (!select) { return; }
    update(select);
    select.addEventListener("change", function () { update(select); });
  });
})();
