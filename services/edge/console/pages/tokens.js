// Gateway tokens: mine, with create (the token shown once, with a copy button), expiry, and
// revoke. The new token lives only in this dialog's DOM until it is closed.
import { get, post, del } from "../api.js";
import { h, fill, loading, empty, errorBox, toast, dialog, confirmDialog, copyButton, field, when, table } from "../dom.js";

/** Lifetimes offered, in days (the API's `expires_in_days`); "" never expires. */
const EXPIRIES = [
  ["30", "30 days"], ["7", "7 days"], ["90", "90 days"], ["365", "1 year"], ["", "Never"],
];

function kindOf(t) {
  return String(t.kind || "api").toLowerCase().replace(/^token_kind_/, "");
}

function showOnce(created) {
  const token = created.token;
  const info = created.info || created;
  const value = h("input", { type: "text", readonly: true, value: token, class: "token-once", "aria-label": "The new gateway token" });
  const done = h("button", { type: "button", class: "primary" }, "I have copied it");
  const dlg = dialog("Copy your new token", h("div", {},
    h("p", {}, `This is the only time “${info.name || info.id}” is shown. Store it in your password manager or your program's secret store.`),
    h("div", { class: "copy-row" }, value, copyButton(token, "Copy token")),
    h("div", { class: "actions" }, done)), { onClose: () => { value.value = ""; } });
  done.addEventListener("click", () => dlg.close());
  value.select();
}

function createForm(reload) {
  const name = h("input", { type: "text", name: "name", autocomplete: "off", maxlength: "64", placeholder: "laptop, ci, …" });
  const expiry = h("select", { name: "expires_in_days" }, EXPIRIES.map(([v, l]) => h("option", { value: v }, l)));
  const nameField = field("Name", name, { name: "name", hint: "To tell your tokens apart." });
  const expiryField = field("Expires after", expiry, { name: "expires_in_days" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create token");
  const form = h("form", { class: "token-form card", novalidate: true }, h("h2", {}, "New token"), nameField, expiryField, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    nameField.setError("");
    if (!name.value.trim()) return nameField.setError("Give the token a name, such as the machine or program that uses it.");
    submit.disabled = true;
    try {
      const body = { name: name.value.trim() };
      if (expiry.value) body.expires_in_days = Number(expiry.value);
      const created = await post("/api/v1/tokens", body);
      name.value = "";
      showOnce(created);
      reload();
    } catch (error) {
      if (error.status === 401) return;
      const target = error.field === "expires_in_days" ? expiryField : nameField;
      target.setError(`${error.message} ${error.hint}`.trim());
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(ctx) {
  const { main, title } = ctx;
  const body = h("div", {}, loading("Loading tokens"));
  const reload = async () => {
    try {
      const list = await get("/api/v1/tokens");
      const tokens = (list.data || []).filter((t) => kindOf(t) === "api" || kindOf(t) === "unspecified");
      if (!tokens.length) return fill(body, empty("No gateway tokens yet: create one for each program that calls the gateway."));
      fill(body, table("Your gateway tokens", ["Name", "Ends in", "Created", "Expires", "Actions"], tokens.map((t) => h("tr", { dataset: { token: t.id } },
        h("td", { "data-label": "Name" }, t.name || "—"),
        h("td", { "data-label": "Ends in" }, t.last_four ? h("code", {}, `…${t.last_four}`) : "—"),
        h("td", { "data-label": "Created" }, when(t.created_at)),
        h("td", { "data-label": "Expires" }, t.expires_at ? when(t.expires_at) : "Never"),
        h("td", { "data-label": "Actions" }, h("button", {
          type: "button", class: "danger", "aria-label": `Revoke ${t.name || t.id}`,
          onclick: async () => {
            if (!(await confirmDialog("Revoke token?", `Revoke “${t.name || t.id}”? Programs using it are refused from now on.`, "Revoke token"))) return;
            try {
              await del(`/api/v1/tokens/${encodeURIComponent(t.id)}`);
              toast(`Revoked “${t.name || t.id}”.`, "ok");
              reload();
            } catch (error) {
              if (error.status !== 401) toast(`Not revoked: ${error.message} ${error.hint}`.trim(), "error");
            }
          },
        }, "Revoke")))), { hideCaption: true }));
    } catch (error) {
      if (error.status !== 401) fill(body, errorBox(error, reload));
    }
  };
  fill(main, h("h1", {}, title), h("p", { class: "lede" }, "Your tokens for the model API and the management API. The console's own sign-in is not listed."), createForm(reload), h("section", {}, h("h2", {}, "Your tokens"), body));
  await reload();
}
