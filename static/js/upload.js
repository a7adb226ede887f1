// Upload limits, checked before a byte is sent: forms marked data-max-files state the limits
// the server enforces (the image-set upload: audits/forms.py upload_limits; an answer's
// evidence files: reviews/views/projects.py), and each file input may list the names it takes
// in data-extensions. The multiple-file input is held to data-max-files, data-max-file-bytes
// per file and data-max-total-bytes in all; a single-file input to data-side-file-bytes. Too
// many files, a file or a set too large, or a file of another kind is named in the form's
// [data-upload-refusal] box, and the form is not sent. The server checks the same limits again.
const uploadSize = (bytes) => {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1).replace(/\.0$/, "")} ${units[unit]}`;
};

// A DICOM file often has no extension or a numeric one (part of a UID): only a name that ends
// in a word (".jpg", ".pdf") is of another kind.
const uploadNameAllowed = (name, extensions) => {
  const lower = name.toLowerCase();
  if (extensions.some((extension) => lower.endsWith(extension))) return true;
  const dot = lower.lastIndexOf(".");
  return dot <= 0 || !/[a-z]/.test(lower.slice(dot + 1));
};

const uploadProblems = (form) => {
  const problems = [];
  const maxFiles = Number(form.dataset.maxFiles);
  const maxFileBytes = Number(form.dataset.maxFileBytes);
  const maxTotalBytes = Number(form.dataset.maxTotalBytes);
  const sideFileBytes = Number(form.dataset.sideFileBytes);
  form.querySelectorAll("input[type='file']").forEach((input) => {
    const files = [...(input.files || [])];
    const extensions = (input.dataset.extensions || "").split(" ").filter(Boolean);
    const images = input.multiple;
    const label = form.querySelector(`label[for='${input.id}']`);
    const what = label ? label.textContent.replace("*", "").trim() : input.name;
    if (images && maxFiles && files.length > maxFiles) {
      const hint = form.dataset.tooManyHint ? ` ${form.dataset.tooManyHint}` : "";
      problems.push(`${files.length} files chosen for “${what}”: at most ${maxFiles} can be sent at a time.${hint}`);
    }
    files.forEach((file) => {
      if (extensions.length && !uploadNameAllowed(file.name, extensions)) {
        problems.push(`“${file.name}” (${what}) is not a kind of file this field takes: ${extensions.join(", ")}.`);
      }
      const cap = images ? maxFileBytes : sideFileBytes || maxFileBytes;
      if (cap && file.size > cap) {
        problems.push(`“${file.name}” is ${uploadSize(file.size)}; a file here may be at most ${uploadSize(cap)}.`);
      }
    });
    const total = files.reduce((sum, file) => sum + file.size, 0);
    if (images && maxTotalBytes && files.length > 1 && total > maxTotalBytes) {
      problems.push(
        `The files chosen for ${what} come to ${uploadSize(total)}; one upload may carry at most ${uploadSize(maxTotalBytes)} in all.`,
      );
    }
  });
  return problems;
};

const showUploadProblems = (form, problems) => {
  const box = form.querySelector("[data-upload-refusal]");
  if (!box) return;
  box.replaceChildren();
  if (!problems.length) {
    box.classList.add("d-none");
    return;
  }
  const heading = document.createElement("p");
  heading.className = "fw-semibold mb-1";
  heading.textContent = "Not sent, so nothing was uploaded or saved:";
  const list = document.createElement("ul");
  list.className = "mb-0";
  problems.forEach((problem) => {
    const item = document.createElement("li");
    item.textContent = problem;
    list.append(item);
  });
  box.append(heading, list);
  box.classList.remove("d-none");
};

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-max-files]").forEach((form) => {
    form.querySelectorAll("input[type='file']").forEach((input) => {
      input.addEventListener("change", () => {
        const problems = uploadProblems(form);
        showUploadProblems(form, problems);
        input.setAttribute("aria-invalid", problems.length ? "true" : "false");
      });
    });
    // Registered before the progress handler below: a refused upload is stopped here.
    form.addEventListener("submit", (event) => {
      const problems = uploadProblems(form);
      if (!problems.length) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      showUploadProblems(form, problems);
      form.querySelector("[data-upload-refusal]")?.focus();
    });
  });
});

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
        // The server has the upload now (stored, or refused with the form shown again).
        form.dispatchEvent(new Event("warn-unsaved:saved"));
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
