/* Attribution model form: show only the weighting inputs of the chosen type, and check the
   config as it is typed against the server's validate_config (the save re-checks it). */
"use strict";
(function () {
  // Per-type inputs, from the server's own config definitions (attribution.credit.CONFIG_FIELDS),
  // read once the page is parsed (this script loads in the head).
  let FIELDS_BY_TYPE = {};
  let ALL_FIELDS = [];
  const DEBOUNCE_MS = 300;

  function readDefinitions() {
    const definitions = document.getElementById("model-config-fields");
    FIELDS_BY_TYPE = definitions ? JSON.parse(definitions.textContent) : {};
    ALL_FIELDS = [].concat.apply([], Object.values(FIELDS_BY_TYPE));
  }

  function row(field) {
    return document.querySelector(".field-" + field);
  }

  function showFieldsFor(modelType) {
    const wanted = FIELDS_BY_TYPE[modelType] || [];
    ALL_FIELDS.forEach(function (field) {
      const element = row(field);
      if (element) {
        element.hidden = !wanted.includes(field);
      }
    });
    const weighting = ALL_FIELDS.length && row(ALL_FIELDS[0]) && row(ALL_FIELDS[0]).closest("fieldset");
    if (weighting) {
      weighting.hidden = wanted.length === 0;
    }
  }

  function render(box, result) {
    box.style.display = "block";
    box.textContent = "";
    if (result.valid) {
      box.style.borderLeftColor = "#1a7f37";
      box.textContent = "Config is valid: " + result.summary;
      return;
    }
    box.style.borderLeftColor = "#ba2121";
    Object.entries(result.errors).forEach(function ([field, message]) {
      const line = document.createElement("div");
      line.textContent = field + ": " + message;
      box.appendChild(line);
    });
  }

  function validate(form, box) {
    const typeSelect = form.querySelector("[name=model_type]");
    if (!typeSelect) {
      return;
    }
    const params = new URLSearchParams({ model_type: typeSelect.value });
    ALL_FIELDS.forEach(function (field) {
      const input = form.querySelector("[name=" + field + "]");
      if (input) {
        params.set(field, input.value);
      }
    });
    fetch(box.dataset.validateUrl + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (result) {
        render(box, result);
      })
      .catch(function (error) {
        box.style.display = "block";
        box.textContent = "Live validation unavailable (" + error.message + "); the save still checks.";
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    readDefinitions();
    const box = document.getElementById("model-config-live");
    const form = box && box.closest("form");
    const typeSelect = form && form.querySelector("[name=model_type]");
    if (!typeSelect) {
      return;
    }
    let timer = null;
    const schedule = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        validate(form, box);
      }, DEBOUNCE_MS);
    };
    showFieldsFor(typeSelect.value);
    typeSelect.addEventListener("change", function () {
      showFieldsFor(typeSelect.value);
      schedule();
    });
    ALL_FIELDS.forEach(function (field) {
      const input = form.querySelector("[name=" + field + "]");
      if (input) {
        input.addEventListener("input", schedule);
        input.addEventListener("change", schedule);
      }
    });
    validate(form, box);
  });
})();
