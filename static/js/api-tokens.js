// The API tokens page: copy a new token to the clipboard. Without this file the token can
// still be copied by hand (one click selects all of it).
document.addEventListener("DOMContentLoaded", () => {
  // A new token is shown only in the response to the POST that created it (no store keeps it
  // for a later page). Replacing that history entry turns a reload, or a return to it, into a
  // GET of the list: the token is not shown again and no second token is created.
  if (document.getElementById("new-token-card")) {
    window.history.replaceState(null, "", window.location.pathname);
  }
  document.querySelectorAll("button[data-copy-target]").forEach((button) => {
    const source = document.getElementById(button.dataset.copyTarget);
    const label = button.querySelector("span");
    if (!source || !label) return;
    const said = (text) => {
      label.textContent = text;
      window.setTimeout(() => { label.textContent = "Copy"; }, 4000);
    };
    const select = () => {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    };
    button.addEventListener("click", async () => {
      select();
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        said("Copied");
      } catch (error) {
        // No clipboard access (an insecure origin, a refused permission): the token is selected for Ctrl+C.
        said(document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
      }
    });
  });
});
