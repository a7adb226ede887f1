// Upload progress for forms marked data-upload-progress. Progressive enhancement only:
// without this file the form posts as usual. With it, the same multipart post goes through
// XMLHttpRequest so that the bytes sent can be shown; the server's answer then replaces the
// page (the set page after the redirect, or the form with its errors).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-upload-progress]").forEach((form) => {
    const wrap = form.querySelector("[data-upload-bar]");
    const bar = wrap ? wrap.querySelector(".progress-bar") : null;
    const status = form.querySelector("[data-upload-status]");
    if (!wrap || !bar || !window.XMLHttpRequest || !window.FormData) return;
    let widthClass = "w-pct-0";

    const show = (percent, text) => {
      const clamped = Math.max(0, Math.min(100, percent));
      const next = `w-pct-${Math.floor(clamped / 5) * 5}`;
      bar.classList.replace(widthClass, next);
      widthClass = next;
      wrap.setAttribute("aria-valuenow", String(Math.round(clamped)));
      if (status) status.textContent = text;
    };

    const fail = (text) => {
      bar.classList.remove("progress-bar-striped", "progress-bar-animated");
      bar.classList.add("bg-danger");
      if (status) {
        status.classList.remove("text-muted");
        status.classList.add("text-danger");
        status.textContent = text;
      }
      form.querySelectorAll("button[type='submit']").forEach((button) => { button.disabled = false; });
    };

    const replacePage = (xhr) => {
      if (xhr.responseURL && xhr.responseURL !== window.location.href) {
        window.history.replaceState(null, "", xhr.responseURL);
      }
      document.open();
      document.write(xhr.responseText);
      document.close();
    };

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.upload.addEventListener("progress", (progress) => {
        if (progress.lengthComputable && progress.total > 0) {
          const percent = (progress.loaded / progress.total) * 100;
          show(percent, `Uploading: ${Math.floor(percent)} %`);
        }
      });
      xhr.upload.addEventListener("load", () => {
        show(100, "Uploaded. Storing the files; a worker then reads them, and the set’s page follows its progress…");
        bar.classList.add("progress-bar-striped", "progress-bar-animated");
      });
      xhr.addEventListener("load", () => {
        if (xhr.responseText) {
          replacePage(xhr);
        } else if (xhr.responseURL) {
          window.location.assign(xhr.responseURL);
        } else {
          fail(`The server answered ${xhr.status} without a page. Try again, or upload without this page's script.`);
        }
      });
      xhr.addEventListener("error", () => fail(
        "The connection was lost before the server answered. Check the audits page to see whether the set arrived, or try again.",
      ));
      xhr.addEventListener("abort", () => fail("The upload was cancelled. Nothing was saved."));
      wrap.classList.remove("d-none");
      if (status) status.classList.remove("d-none");
      form.querySelectorAll("button[type='submit']").forEach((button) => { button.disabled = true; });
      show(0, "Uploading: 0 %");
      xhr.send(new FormData(form));
    });
  });
});
