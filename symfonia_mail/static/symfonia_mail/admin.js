/* symfonia_mail admin: small enhancements; every action still works as a plain form post. */
"use strict";
(function () {
  function csrfToken(form) {
    const input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Delivery notifications: Never and None exclude every other option (RFC 3461 §4.1).
  function wireDsn(root) {
    root.querySelectorAll("input[data-dsn-group]").forEach(function (box) {
      box.addEventListener("change", function () {
        if (!box.checked) return;
        const group = box.form || document;
        group.querySelectorAll("input[data-dsn-group]").forEach(function (other) {
          if (other.name !== box.name) return;
          if (other === box) return;
          if (box.dataset.dsnGroup === "exclusive" || other.dataset.dsnGroup === "exclusive") {
            other.checked = false;
          }
        });
      });
    });
  }

  // Mailbox API transports (Microsoft Graph, Gmail API) take no DSN request: the options
  // are off while one is chosen, and come back as they were when SMTP is chosen again.
  function wireTransport(root) {
    const transport = root.querySelector("select[name=transport]");
    if (!transport) return;
    const apis = ["microsoft_graph", "gmail_api"];
    function apply() {
      const api = apis.includes(transport.value);
      root.querySelectorAll("input[name=dsn_notify]").forEach(function (box) {
        if (api && !box.disabled) {
          box.dataset.wasChecked = box.checked ? "1" : "";
          box.checked = false;
        } else if (!api && box.disabled && "wasChecked" in box.dataset) {
          box.checked = box.dataset.wasChecked === "1";
        }
        box.disabled = api;
      });
    }
    transport.addEventListener("change", apply);
    apply();
  }

  // Security: move the port along when it still holds the other mode's usual port.
  function wireSecurity(root) {
    const security = root.querySelector("select[name=security]");
    const port = root.querySelector("input[name=port]");
    if (!security || !port) return;
    const usual = {ssl: "465", starttls: "587", none: "25"};
    security.addEventListener("change", function () {
      if (Object.values(usual).includes(port.value.trim()) && usual[security.value]) {
        port.value = usual[security.value];
      }
    });
  }

  // "Show": ask the server (POST, CSRF); it answers only the user who entered the value.
  function wireShow(root) {
    root.querySelectorAll("button.symfonia-show-secret").forEach(function (button) {
      const output = button.parentElement.querySelector(".symfonia-secret-value");
      button.addEventListener("click", function () {
        if (!output.hidden) {
          output.hidden = true;
          output.textContent = "";
          button.textContent = button.dataset.showLabel;
          return;
        }
        fetch(button.dataset.url, {
          method: "POST",
          credentials: "same-origin",
          headers: {"X-CSRFToken": csrfToken(button.form), "Accept": "application/json"},
        }).then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        }).then(function (data) {
          output.textContent = data.value;
          output.hidden = false;
          button.textContent = button.dataset.hideLabel;
        }).catch(function () {
          output.textContent = "✗";
          output.hidden = false;
        });
      });
    });
  }

  // Test SMTP: post the unsaved form and show the report without reloading the page,
  // so that a password typed into the form stays there.
  function wireTest(root) {
    root.querySelectorAll("button.symfonia-test-smtp").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.fetch || !window.FormData) return;  // plain form post instead
        event.preventDefault();
        const form = button.form;
        const data = new FormData(form);
        data.append("_test_smtp", "1");
        const label = button.textContent;
        button.disabled = true;
        button.textContent = button.dataset.runningLabel;
        fetch(form.getAttribute("action") || window.location.href, {
          method: "POST",
          body: data,
          credentials: "same-origin",
          headers: {"Accept": "application/json"},
        }).then(function (response) {
          if (!response.ok) throw new Error(response.status + " " + response.statusText);
          return response.json();
        }).then(function (result) {
          showMessage(result.level, result.html);
          showFieldErrors(form, result.errors || {});
        }).catch(function (error) {
          showMessage("error", document.createTextNode(String(error)));
        }).finally(function () {
          button.disabled = false;
          button.textContent = label;
        });
      });
    });
  }

  // Put the server's field errors on the fields, as a plain form post would
  // (Django's errors.get_json_data(): {field: [{message, code}], __all__: [...]}).
  function showFieldErrors(form, errors) {
    form.querySelectorAll(".symfonia-js-errors").forEach(function (list) { list.remove(); });
    form.querySelectorAll(".form-row.symfonia-js-error-row").forEach(function (row) {
      row.classList.remove("errors", "symfonia-js-error-row");
    });
    Object.keys(errors).forEach(function (name) {
      const list = document.createElement("ul");
      list.className = "errorlist symfonia-js-errors";
      errors[name].forEach(function (error) {
        const item = document.createElement("li");
        item.textContent = error.message;
        list.appendChild(item);
      });
      if (name === "__all__") {
        list.classList.add("nonfield");
        const first = form.querySelector("fieldset");
        (first ? first.parentNode : form).insertBefore(list, first);
        return;
      }
      const input = form.querySelector("[name='" + name + "']");
      const row = form.querySelector(".form-row.field-" + name) ||
        (input && input.closest(".form-row"));
      if (!row) return;
      row.classList.add("errors", "symfonia-js-error-row");
      const container = (input && input.closest(".flex-container")) || row.firstElementChild || row;
      container.parentNode.insertBefore(list, container);
    });
    const firstError = form.querySelector(".symfonia-js-errors");
    if (firstError) {
      const field = firstError.parentNode.querySelector("input, select, textarea");
      if (field && field.focus) field.focus({preventScroll: true});
    }
  }

  function showMessage(level, html) {
    let list = document.querySelector("ul.messagelist");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messagelist";
      const main = document.getElementById("main") || document.body;
      const content = document.getElementById("content");
      (content ? content.parentNode : main).insertBefore(list, content);
    }
    list.replaceChildren();
    const item = document.createElement("li");
    item.className = level + " symfonia-test-report";
    // The server escapes everything in the report (diagnostics.SmtpTestReport.as_html).
    if (typeof html === "string") item.innerHTML = html; else item.appendChild(html);
    list.appendChild(item);
    list.scrollIntoView({block: "nearest"});
  }

  function init() {
    wireDsn(document);
    wireSecurity(document);
    wireTransport(document);
    wireShow(document);
    wireTest(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
