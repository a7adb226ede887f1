// The answer form's nudge: when the item's bound audit currently fails, choosing "met" shows
// the [data-met-nudge] note (the server shows it too when the saved or sent answer is "met").
document.addEventListener("DOMContentLoaded", () => {
  const nudge = document.querySelector("[data-met-nudge]");
  const form = nudge ? nudge.closest("form") : null;
  if (!form) return;
  const update = () => {
    const chosen = form.querySelector("input[name='status']:checked");
    nudge.classList.toggle("d-none", !(chosen && chosen.value === "met"));
  };
  form.querySelectorAll("input[name='status']").forEach((input) => input.addEventListener("change", update));
  update();
});
