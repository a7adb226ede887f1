// A webhook's page: refresh the delivery log once after "Send test event" (its secret's Copy
// button is app.js's). Without this file the page can be reloaded by hand.
document.addEventListener("DOMContentLoaded", () => {
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
