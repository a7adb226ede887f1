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

// The review page's draft (issue 10): what the reviewer types is saved on the server as they
// go (their private draft, per round), so a reload, a second tab or a waiver loses nothing.
// Without this script the "Save draft" button does the same.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("review-form");
  if (!form) return;
  const url = form.dataset.draftUrl;
  const status = document.getElementById("draft-status");
  const show = (text, failed) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("text-danger", Boolean(failed));
    status.setAttribute("role", failed ? "alert" : "status");
  };
  const fields = () => {
    const data = new FormData(form);
    data.delete("action");
    return data;
  };
  let edits = 0; // bumped on every edit: a reply only marks the form saved if nothing changed since
  const changed = new Set(); // the fields edited on this page since its last autosave
  let timer = null;
  let inFlight = Promise.resolve();
  let pending = false; // an autosave is on its way to the server
  let leaving = false; // the page is being submitted: no autosave may land after it
  const save = () => {
    if (!url || leaving) return inFlight;
    window.clearTimeout(timer);
    const sent = edits;
    const typed = fields();
    const names = [...changed];
    names.forEach((name) => typed.append("changed_field", name));
    changed.clear();
    pending = true;
    inFlight = fetch(url, {
      method: "POST",
      body: typed,
      credentials: "same-origin",
      headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]")?.value || "", Accept: "application/json" },
    })
      .then((response) =>
        response
          .json()
          .catch(() => ({ error: `Draft not saved (the server answered ${response.status}); use “Save draft”.` }))
          .then((body) => ({ ok: response.ok, body })),
      )
      .then(({ ok, body }) => {
        if (ok) {
          show(body.message || "Draft saved.", false);
          if (sent === edits) form.dispatchEvent(new Event("warn-unsaved:saved"));
        } else {
          names.forEach((name) => changed.add(name)); // to be sent again with the next save
          show(body.error || "Draft not saved.", true);
        }
      })
      .catch(() => {
        names.forEach((name) => changed.add(name));
        show("Draft not saved: the server could not be reached. Keep this page open and try “Save draft”.", true);
      })
      .finally(() => {
        pending = false;
      });
    return inFlight;
  };
  // A submission must reach the server after any autosave already sent, or the older autosave
  // would overwrite the draft it saves: wait for it, then submit again with the same button.
  const afterAutosave = (event, submitting) => {
    window.clearTimeout(timer);
    if (!pending) {
      leaving = true;
      return false;
    }
    event.preventDefault();
    inFlight.then(() => submitting.requestSubmit(event.submitter || undefined));
    return true;
  };
  form.addEventListener("submit", (event) => {
    if (!event.defaultPrevented) afterAutosave(event, form);
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) leaving = false; // back to this page from the browser's cache
  });
  const edited = (event, delay) => {
    if (!event.isTrusted || !url) return;
    if (event.target.name) changed.add(event.target.name);
    edits += 1;
    show("Unsaved changes…", false);
    window.clearTimeout(timer);
    timer = window.setTimeout(save, delay);
  };
  form.addEventListener("input", (event) => edited(event, 1000));
  form.addEventListener("change", (event) => edited(event, 200));

  // A waiver posted from this page carries the unsaved verdicts and comments with it; the
  // server keeps them as the draft before recording the waiver.
  document.querySelectorAll("form.waiver-post").forEach((waiver) => {
    waiver.addEventListener("submit", (event) => {
      if (afterAutosave(event, waiver)) return;
      waiver.querySelectorAll("[data-review-copy]").forEach((input) => input.remove());
      const copy = (name, value) => {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        input.dataset.reviewCopy = "";
        waiver.append(input);
      };
      copy("review_draft", "1");
      for (const [name, value] of fields()) {
        if (name !== "csrfmiddlewaretoken" && typeof value === "string") copy(name, value);
      }
      form.dispatchEvent(new Event("warn-unsaved:saved")); // sent with the waiver
    });
  });

  // "Mark all undecided items acceptable" applies to the unchanged items only, and asks first.
  const acceptRest = form.querySelector("button[data-accept-rest]");
  if (acceptRest) {
    acceptRest.addEventListener("click", (event) => {
      const undecided = (row) => !row.querySelector("input[type=radio]:checked:not([value=''])");
      const rows = [...form.querySelectorAll(".review-row")].filter(undecided);
      const count = rows.filter((row) => !row.hasAttribute("data-changed")).length;
      const changed = rows.length - count;
      const left = changed ? ` ${changed} undecided item${changed === 1 ? "" : "s"} changed since the round before stay${changed === 1 ? "s" : ""} undecided for you to read.` : "";
      const question = count
        ? `Mark ${count} undecided item${count === 1 ? "" : "s"} acceptable without reading ${count === 1 ? "it" : "them"} one by one?${left}`
        : `No unchanged item is undecided; nothing will be marked acceptable.${left} Save the draft?`;
      if (!window.confirm(question)) event.preventDefault();
    });
  }
});
