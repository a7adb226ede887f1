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
