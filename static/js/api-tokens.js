// The API tokens page: copy a new token to the clipboard. Without this file the token can
// still be selected and copied by hand (the field is read-only, not disabled).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy-target]").forEach((button) => {
    const field = document.getElementById(button.dataset.copyTarget);
    const label = button.querySelector("span");
    if (!field || !label) return;
    const said = (text) => {
      label.textContent = text;
      window.setTimeout(() => { label.textContent = "Copy"; }, 4000);
    };
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        said("Copied");
      } catch (error) {
        // No clipboard access (an insecure origin, a refused permission): the token is selected for Ctrl+C.
        said(document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
      }
    });
  });
});
