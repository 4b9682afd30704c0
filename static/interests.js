// 관심 품목/지역: the interests picker of templates/interests/_picker.html.
// Each [data-picker] fieldset gets a combobox (WAI-ARIA 1.2: role=combobox on the input,
// aria-controls a listbox, aria-activedescendant for the option in focus) that searches
// data-endpoint as the person types; Enter or a click adds the option as a chip with a hidden
// input named data-field; each chip has a remove button. Results and changes are announced in
// the [data-status] live region. Without script the page shows the <noscript> text fields.
(function () {
  "use strict";
  var DELAY = 200; // ms after the last keystroke

  function format(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : m;
    });
  }

  function setup(picker, index) {
    var input = picker.querySelector("[data-input]");
    var listbox = picker.querySelector("[data-listbox]");
    var chips = picker.querySelector("[data-chips]");
    var status = picker.querySelector("[data-status]");
    var empty = picker.querySelector("[data-empty]");
    var endpoint = picker.getAttribute("data-endpoint");
    var field = picker.getAttribute("data-field");
    var max = parseInt(picker.getAttribute("data-max"), 10) || 20;
    var removeLabel = picker.getAttribute("data-remove-label");
    var msg = function (name) { return picker.getAttribute("data-msg-" + name) || ""; };
    var results = [];
    var active = -1;
    var timer = null;
    var controller = null;
    var lastQuery = "";

    Array.prototype.forEach.call(picker.querySelectorAll("[data-js-only], [data-remove]"),
      function (el) { el.hidden = false; });

    function announce(text) {
      // Clear first so that the same sentence twice is announced twice.
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }

    function chosen() {
      return Array.prototype.map.call(chips.querySelectorAll("li[data-code]"),
        function (li) { return li.getAttribute("data-code"); });
    }

    function refreshEmpty() {
      if (empty) { empty.hidden = chips.children.length > 0; }
    }

    function close() {
      listbox.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function optionId(i) { return input.id + "_opt" + i; }

    function setActive(i) {
      var options = listbox.querySelectorAll("[role=option]");
      if (!options.length) { return; }
      if (i < 0) { i = options.length - 1; }
      if (i >= options.length) { i = 0; }
      Array.prototype.forEach.call(options, function (o, n) {
        o.setAttribute("aria-selected", n === i ? "true" : "false");
        o.classList.toggle("active", n === i);
      });
      active = i;
      input.setAttribute("aria-activedescendant", optionId(i));
      options[i].scrollIntoView({ block: "nearest" });
    }

    function text(result) {
      return result.label + " " + result.name;
    }

    function render() {
      listbox.textContent = "";
      results.forEach(function (r, i) {
        var li = document.createElement("li");
        li.id = optionId(i);
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        var code = document.createElement("span");
        code.className = "option-code";
        code.textContent = r.label;
        var name = document.createElement("span");
        name.className = "option-name";
        name.textContent = r.name;
        li.appendChild(code);
        li.appendChild(document.createTextNode(" "));
        li.appendChild(name);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); });
        li.addEventListener("click", function () { add(r); });
        listbox.appendChild(li);
      });
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (results.length) {
        listbox.hidden = false;
        input.setAttribute("aria-expanded", "true");
        announce(format(msg("count"), { n: results.length }));
      } else {
        close();
        announce(msg("none"));
      }
    }

    function search() {
      var q = input.value.trim();
      if (q === lastQuery) { return; }
      lastQuery = q;
      if (!q) { results = []; close(); return; }
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var url = endpoint + "?q=" + encodeURIComponent(q);
      fetch(url, { credentials: "same-origin", signal: controller ? controller.signal : undefined,
                   headers: { Accept: "application/json" } })
        .then(function (resp) {
          if (!resp.ok) { throw new Error(String(resp.status)); }
          return resp.json();
        })
        .then(function (data) {
          if (input.value.trim() !== q) { return; } // typed on meanwhile
          results = data.results || [];
          render();
        })
        .catch(function (err) {
          if (err && err.name === "AbortError") { return; }
          results = [];
          close();
          announce(msg("error"));
          lastQuery = "";
        });
    }

    function add(result) {
      var codes = chosen();
      if (codes.indexOf(result.code) >= 0) {
        announce(msg("duplicate"));
        return;
      }
      if (codes.length >= max) {
        announce(msg("full"));
        return;
      }
      var li = document.createElement("li");
      li.className = "chip";
      li.setAttribute("data-code", result.code);
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = field;
      hidden.value = result.code;
      var span = document.createElement("span");
      span.className = "chip-text";
      span.textContent = result.chip || text(result);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "chip-remove";
      button.setAttribute("data-remove", "");
      button.setAttribute("aria-label", removeLabel + ": " + span.textContent);
      button.textContent = "×";
      li.appendChild(hidden);
      li.appendChild(span);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(button);
      chips.appendChild(li);
      refreshEmpty();
      input.value = "";
      lastQuery = "";
      results = [];
      close();
      announce(format(msg("added"), { name: span.textContent }));
      input.focus();
    }

    chips.addEventListener("click", function (e) {
      var button = e.target.closest ? e.target.closest("[data-remove]") : null;
      if (!button) { return; }
      var li = button.parentNode;
      var name = li.querySelector(".chip-text").textContent;
      var next = li.nextElementSibling || li.previousElementSibling;
      li.parentNode.removeChild(li);
      refreshEmpty();
      announce(format(msg("removed"), { name: name }));
      var target = next ? next.querySelector("[data-remove]") : input;
      target.focus();
    });

    input.addEventListener("input", function () {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(search, DELAY);
    });

    input.addEventListener("keydown", function (e) {
      var open = !listbox.hidden;
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (!open && results.length) { listbox.hidden = false; input.setAttribute("aria-expanded", "true"); }
        setActive(active + 1);
      } else if (e.key === "ArrowUp") {
        e.preventDefault();
        if (open) { setActive(active - 1); }
      } else if (e.key === "Enter") {
        // Enter never submits the surrounding form from the search box.
        e.preventDefault();
        if (open && active >= 0) {
          add(results[active]);
        } else if (timer) {
          window.clearTimeout(timer);
          search();
        }
      } else if (e.key === "Escape") {
        if (open) { e.preventDefault(); close(); } else if (input.value) { e.preventDefault(); input.value = ""; lastQuery = ""; }
      } else if (e.key === "Tab") {
        close();
      }
    });

    input.addEventListener("blur", function () { window.setTimeout(close, 150); });
    void index;
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-picker]"), setup);
})();
