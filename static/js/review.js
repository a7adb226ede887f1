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
