// DOM helpers. Every element is built with createElement and every value is set as text, so
// whatever the API returns is shown escaped by construction (no innerHTML anywhere).

/** Builds an element: h("button", {class: "x", onclick: fn, "aria-label": "..."}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "value" || name === "checked" || name === "disabled" || name === "hidden") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique id for label/input pairs. */
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled field: label, control, description and an error line (aria-describedby). */
export function field(labelText, control, { hint, name } = {}) {
  const input = control.input || control; // a secret group labels its input
  const id = input.id || nextId(name ? name.replace(/[^a-z0-9]/gi, "-") : "f");
  input.id = id;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const errorEl = h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
  input.setAttribute("aria-describedby", [hintEl && hintEl.id, errorEl.id].filter(Boolean).join(" "));
  const wrap = h("div", { class: "field", dataset: { field: name || "" } }, h("label", { for: id }, labelText), control, hintEl, errorEl);
  wrap.setError = (message) => {
    errorEl.textContent = message || "";
    errorEl.hidden = !message;
    input.setAttribute("aria-invalid", message ? "true" : "false");
  };
  return wrap;
}

/** A secret input with an eye toggle that reveals it while typing. */
export function secretInput({ name, required, multiline = false, placeholder } = {}) {
  const input = multiline
    ? h("textarea", { name, rows: 4, spellcheck: "false", autocomplete: "off", class: "secret masked", placeholder })
    : h("input", { type: "password", name, autocomplete: "off", spellcheck: "false", placeholder });
  if (required) input.required = true;
  const eye = h("button", { type: "button", class: "eye", "aria-label": "Show secret", "aria-pressed": "false" }, "Show");
  eye.addEventListener("click", () => {
    const shown = eye.getAttribute("aria-pressed") !== "true";
    eye.setAttribute("aria-pressed", String(shown));
    eye.setAttribute("aria-label", shown ? "Hide secret" : "Show secret");
    eye.textContent = shown ? "Hide" : "Show";
    if (multiline) input.classList.toggle("masked", !shown);
    else input.type = shown ? "text" : "password";
  });
  const group = h("div", { class: "secret-group" }, input, eye);
  group.input = input;
  return group;
}

/** A short message at the bottom of the screen, announced to screen readers. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, message),
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  region.append(el);
  setTimeout(() => el.remove(), 8000);
  return el;
}

/** A modal dialog (native <dialog>): resolves when closed. */
export function dialog(title, body, { onClose } = {}) {
  const heading = h("h2", { id: nextId("dlg") }, title);
  const close = h("button", { type: "button", class: "icon close", "aria-label": "Close" }, "×");
  const el = h("dialog", { "aria-labelledby": heading.id }, h("div", { class: "dialog-head" }, heading, close), body);
  close.addEventListener("click", () => el.close());
  el.addEventListener("close", () => { el.remove(); if (onClose) onClose(); });
  document.body.append(el);
  el.showModal();
  return el;
}

/** Asks a yes/no question in a dialog; resolves true when confirmed. */
export function confirmDialog(title, message, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h("button", { type: "button", class: "danger" }, confirmLabel);
    const no = h("button", { type: "button" }, "Cancel");
    const dlg = dialog(title, h("div", {}, h("p", {}, message), h("div", { class: "actions" }, no, yes)), {
      onClose: () => resolve(answer),
    });
    yes.addEventListener("click", () => { answer = true; dlg.close(); });
    no.addEventListener("click", () => dlg.close());
    no.focus();
  });
}

/** A copy-to-clipboard button for `text`. */
export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "copy", "aria-label": `${label}: ${text.length > 40 ? "value" : text}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  return button;
}

export const loading = (what = "Loading") => h("p", { class: "loading", role: "status" }, `${what}…`);
export const empty = (message, ...more) => h("div", { class: "empty" }, h("p", {}, message), ...more);

/** An error box saying what went wrong and what to do. */
export function errorBox(error, retry) {
  return h("div", { class: "error-box", role: "alert" },
    h("p", {}, error && error.message ? error.message : String(error)),
    error && error.hint ? h("p", { class: "hint" }, error.hint) : null,
    retry ? h("button", { type: "button", onclick: retry }, "Try again") : null);
}

/** `2026-11-24T04:07:15Z` as local date and time; "—" when empty. */
export function when(rfc3339) {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? rfc3339 : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Micro-dollars as `$1.23` (to the cent, or more digits below a cent). */
export function dollars(micros) {
  const n = Number(micros || 0) / 1e6;
  if (n !== 0 && Math.abs(n) < 0.01) return `$${n.toFixed(6)}`;
  return `$${n.toFixed(2)}`;
}

/** A table with a caption (visually hidden when `hideCaption`) and a header row. */
export function table(caption, headers, rows, { hideCaption = false } = {}) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", { class: hideCaption ? "sr-only" : "" }, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
}
