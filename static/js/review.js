// Progressive enhancement for the review and signing pages: every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  // Ask before an action that cannot be undone, on the button that does it.
  document.querySelectorAll("button[data-confirm-submit]").forEach((button) => {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirmSubmit)) event.preventDefault();
    });
  });
  // Signing: say which statement the chosen meaning needs.
  const meanings = document.querySelectorAll("input[name='meaning']");
  const statement = document.getElementById("id_statement");
  if (meanings.length && statement) {
    const needs = JSON.parse(document.getElementById("statement-required")?.textContent || "{}");
    const hint = document.getElementById("statement-hint");
    const shown = document.getElementById("sign-meaning");
    const update = () => {
      const chosen = document.querySelector("input[name='meaning']:checked");
      const what = chosen ? needs[chosen.value] : undefined;
      const label = chosen ? document.querySelector(`label[for='${chosen.id}']`) : null;
      if (shown) shown.textContent = label ? label.textContent.trim() : "the decision you choose below";
      statement.required = Boolean(what);
      if (hint) hint.textContent = what ? `Required: write ${what}.` : "Optional for this decision.";
    };
    meanings.forEach((input) => input.addEventListener("change", update));
    update();
  }
});

// One submission per POST form: a double click on "Sign" (or any other button of these pages)
// sends one request. The listener is on the document, so it runs after the forms' own: a
// submission cancelled there (a confirm() answered "Cancel") does not count. The buttons are
// disabled only after the browser has read the pressed button's name and value, so the server
// still learns which button it was.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;
  if ((form.getAttribute("method") || "").toLowerCase() !== "post") return;
  if (form.dataset.submitting) {
    event.preventDefault();
    return;
  }
  form.dataset.submitting = "true";
  form.setAttribute("aria-busy", "true");
  const buttons = [...form.querySelectorAll("button[type='submit'], button:not([type]), input[type='submit']")].filter(
    (button) => !button.disabled,
  );
  window.setTimeout(() => {
    buttons.forEach((button) => {
      button.disabled = true;
      button.dataset.disabledOnSubmit = "true";
    });
  }, 0);
});

// Back to a page kept in the browser's cache: its forms can be sent again.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  document.querySelectorAll("form[data-submitting]").forEach((form) => {
    delete form.dataset.submitting;
    form.removeAttribute("aria-busy");
    form.querySelectorAll("[data-disabled-on-submit]").forEach((button) => {
      button.disabled = false;
      delete button.dataset.disabledOnSubmit;
    });
  });
});
