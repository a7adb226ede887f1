// A webhook's page: copy the secret, and refresh the delivery log once after "Send test event".
// Without this file the secret can still be selected and copied by hand, and the page reloaded.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy-secret]").forEach((button) => {
    const source = document.getElementById(button.dataset.copySecret);
    const label = button.querySelector("span");
    if (!source || !label) return;
    const said = (text) => {
      label.textContent = text;
      window.setTimeout(() => { label.textContent = "Copy"; }, 4000);
    };
    button.addEventListener("click", async () => {
      source.select();
      try {
        await navigator.clipboard.writeText(source.value);
        said("Copied");
      } catch (error) {
        // No clipboard access (an insecure origin, a refused permission): the secret is selected for Ctrl+C.
        said(document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
      }
    });
  });

  // The test event was just queued (?sent=1): a worker sends it within seconds. Reload once,
  // without ?sent, so the reloaded page does not reload again.
  const log = document.querySelector("[data-refresh-once]");
  if (log) {
    const url = new URL(window.location.href);
    url.searchParams.delete("sent");
    window.history.replaceState(null, "", url);
    window.setTimeout(() => window.location.replace(url), Number(log.dataset.refreshOnce) * 1000);
  }
});
