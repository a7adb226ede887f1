// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Show that a justification is required when "not met" or "not applicable" is chosen.
  const statuses = document.querySelectorAll("input[name='status']");
  const justification = document.getElementById("id_justification");
  if (statuses.length && justification) {
    const needsWhy = new Set(["not_met", "not_applicable"]);
    const update = () => {
      const chosen = document.querySelector("input[name='status']:checked");
      const required = chosen !== null && needsWhy.has(chosen.value);
      justification.required = required;
      const label = document.querySelector("label[for='id_justification']");
      if (label) label.classList.toggle("requiredField", required);
    };
    statuses.forEach((input) => input.addEventListener("change", update));
    update();
  }
  // Ask before irreversible actions: forms marked data-confirm.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});

// Warn before unsaved input is lost (site-wide contract): a <form data-warn-unsaved> whose
// fields the user has changed makes the browser ask "Leave site?" until the form is submitted.
// - Dirty means: the user typed, picked or chose something (a trusted input/change event) and
//   the fields now differ from what the page showed when it loaded. Undoing a change undoes it.
// - A form the server sent back with errors (fields marked invalid) holds input that is not
//   saved yet: it counts as changed from the start, as does <form data-warn-unsaved="unsaved">.
// - Submitting the form ends the warning for it (unless another listener cancelled the
//   submission, e.g. a confirm() answered "Cancel").
// - A script that saves a form in the background (fetch) tells us so with
//   form.dispatchEvent(new Event("warn-unsaved:saved")): what the form holds now is the saved
//   state. form.dispatchEvent(new Event("warn-unsaved:changed")) marks it changed.
(() => {
  const SELECTOR = "form[data-warn-unsaved]";
  const saved = new WeakMap(); // form -> its fields as last saved (or as loaded)
  const touched = new WeakSet(); // forms the user has changed since then
  const submitted = new WeakSet();

  const snapshot = (form) => {
    const parts = [];
    for (const [name, value] of new FormData(form)) {
      const shown = value instanceof File ? `file:${value.name}:${value.size}` : value;
      parts.push(`${name}=${shown}`);
    }
    return parts.join("\n");
  };
  const refusedByServer = (form) =>
    form.dataset.warnUnsaved === "unsaved" ||
    form.querySelector(".is-invalid, [aria-invalid='true'], .errorlist, .alert-block.alert-danger") !== null;
  const isDirty = (form) => {
    if (submitted.has(form) || !form.isConnected || !touched.has(form)) return false;
    return !saved.has(form) || saved.get(form) !== snapshot(form);
  };
  const remember = (form) => {
    saved.set(form, snapshot(form));
    touched.delete(form);
    submitted.delete(form);
  };

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(SELECTOR).forEach((form) => {
      if (refusedByServer(form)) touched.add(form); // no snapshot: dirty until submitted
      else saved.set(form, snapshot(form));
    });
  });
  const onEdit = (event) => {
    if (!event.isTrusted) return;
    const form = event.target.form || event.target.closest?.("form");
    if (form instanceof HTMLFormElement && form.matches(SELECTOR)) {
      touched.add(form);
      submitted.delete(form);
    }
  };
  document.addEventListener("input", onEdit, true);
  document.addEventListener("change", onEdit, true);
  document.addEventListener("warn-unsaved:saved", (event) => remember(event.target), true);
  document.addEventListener(
    "warn-unsaved:changed",
    (event) => {
      if (event.target instanceof HTMLFormElement) touched.add(event.target);
    },
    true,
  );
  // On the document, in the bubbling phase: runs after the form's own submit listeners.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.matches(SELECTOR) && !event.defaultPrevented) {
      submitted.add(form);
    }
  });
  document.addEventListener("reset", (event) => {
    if (event.target instanceof HTMLFormElement) touched.delete(event.target);
  });
  window.addEventListener("beforeunload", (event) => {
    if (![...document.querySelectorAll(SELECTOR)].some(isDirty)) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers need a value to show their dialog
  });
  // Back to a page kept in the browser's cache: its forms can be submitted again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) document.querySelectorAll(SELECTOR).forEach((form) => submitted.delete(form));
  });
})();

// Form errors announced to screen readers: a form the server sent back with errors gets a
// summary at its top (role="alert") naming each field to correct, with a link to it, and the
// summary takes the focus, so a screen reader reads it and a keyboard starts from it. Fields
// themselves carry aria-invalid and aria-describedby (Django renders them).
document.addEventListener("DOMContentLoaded", () => {
  const form = [...document.querySelectorAll("main form")].find((candidate) =>
    candidate.querySelector(".is-invalid, .alert-danger"),
  );
  if (!form) return;
  let summary = form.querySelector("[role='alert']");
  // A group of checkboxes or radios is one field (Django marks each box invalid): it is named
  // once, by its fieldset's legend, and linked to its first box.
  const named = new Set();
  const fields = [...form.querySelectorAll(".is-invalid[id]")].filter((field) => {
    if (!field.name) return true;
    if (named.has(field.name)) return false;
    named.add(field.name);
    return true;
  });
  const labelOf = (field) => {
    const group = field.closest("fieldset");
    if (field.name && group && group.querySelectorAll(`[name='${CSS.escape(field.name)}']`).length > 1) {
      const legend = group.querySelector("legend");
      if (legend) return legend;
    }
    return form.querySelector(`label[for='${CSS.escape(field.id)}']`);
  };
  if (!summary && fields.length) {
    summary = document.createElement("div");
    summary.className = "alert alert-danger error-summary";
    const title = document.createElement("p");
    title.className = "fw-semibold mb-1";
    title.textContent =
      fields.length === 1 ? "One field needs your attention:" : `${fields.length} fields need your attention:`;
    const list = document.createElement("ul");
    // Each field by its label, linked; the error itself stays under the field, tied to it by
    // aria-describedby, so a screen reader reads it on arriving there (and it is not said twice).
    fields.forEach((field) => {
      const label = labelOf(field);
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `#${field.id}`;
      link.textContent = (label ? label.textContent : field.name).replace(/\*\s*$/, "").trim();
      link.addEventListener("click", (event) => {
        event.preventDefault();
        field.focus();
      });
      item.append(link);
      list.append(item);
    });
    summary.append(title, list);
    summary.setAttribute("role", "alert");
    form.prepend(summary);
  }
  if (!summary) {
    summary = form.querySelector(".alert-danger");
    summary.setAttribute("role", "alert");
  }
  summary.setAttribute("tabindex", "-1");
  // A page that already puts the focus on the field to correct (autofocus) keeps it there.
  if (!form.querySelector(".is-invalid[autofocus]")) summary.focus();
});

// Copy buttons (`<button data-copy-target="id">` with a `<span>` label): copy the element's
// text, or an input's value, to the clipboard; where the clipboard is refused (an insecure
// origin, a denied permission) the text is left selected for Ctrl+C. A new API token and a
// webhook's secret use it. Without JavaScript the text can still be selected by hand.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy-target]").forEach((button) => {
    const source = document.getElementById(button.dataset.copyTarget);
    const label = button.querySelector("span");
    if (!source || !label) return;
    const said = (text) => {
      label.textContent = text;
      window.setTimeout(() => { label.textContent = "Copy"; }, 4000);
    };
    const isInput = "value" in source && typeof source.select === "function";
    const select = () => {
      if (isInput) {
        source.select();
        return;
      }
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    };
    button.addEventListener("click", async () => {
      select();
      try {
        await navigator.clipboard.writeText((isInput ? source.value : source.textContent).trim());
        said("Copied");
      } catch (error) {
        said(document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
      }
    });
  });
});
