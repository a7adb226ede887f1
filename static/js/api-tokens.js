// The API tokens page (its Copy button is app.js's, like every copy button of the site).
document.addEventListener("DOMContentLoaded", () => {
  // A new token is shown only in the response to the POST that created it (no store keeps it
  // for a later page). Replacing that history entry turns a reload, or a return to it, into a
  // GET of the list: the token is not shown again and no second token is created.
  if (document.getElementById("new-token-card")) {
    window.history.replaceState(null, "", window.location.pathname);
  }
});
