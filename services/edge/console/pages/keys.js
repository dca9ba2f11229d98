// Keys: the owner's provider keys, with the Add Key dialog, the enable toggle, the flask test
// and its toast (its time and outcome kept by the API), rename, replace secret, and delete
// with confirmation. A secret is sent once and its
// fields are cleared; the page never shows it again (the API returns only fingerprints).
import { get, post, patch, del, providers } from "../api.js";
import { h, fill, loading, empty, errorBox, toast, dialog, confirmDialog, field, when, table } from "../dom.js";
import { credentialForm } from "./keyform.js";
import { keysPath } from "./providers.js";

/** The vault's label rule (letters, digits, `.`, `_`, `-`; at most 64 bytes), checked here first. */
const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

const OUTCOMES = {
  ok: "works",
  key_invalid: "refused the key",
  no_model_access: "says the key may not use the test model",
  out_of_credit: "says the account is out of credit",
  unreachable: "could not be reached",
  unknown: "gave no clear answer",
};

function testMessage(result, name) {
  if (result.ok) return `${name} answered in ${result.latency_ms} ms: the key works.`;
  const why = OUTCOMES[result.outcome] || result.outcome;
  return `${name} ${why}${result.provider_message ? `: ${result.provider_message}` : "."}`;
}

/** Shows a server error on the form, on the field it names when there is one. */
function showServerError(form, general, error) {
  const message = `${error.message}${error.hint ? ` ${error.hint}` : ""}`;
  if (!form.showError(error.field, error.message)) {
    general.textContent = message;
    general.hidden = false;
  }
}

function keyDialog(ctx, list, keys, { key = null, onSaved }) {
  const replace = Boolean(key);
  const configured = new Set(keys.filter((k) => k.enabled).map((k) => k.provider));
  const picker = h("select", { name: "provider", disabled: replace },
    list.map((p) => h("option", { value: p.id }, `${p.name}${configured.has(p.id) && !replace ? " (configured)" : ""}`)));
  picker.value = replace ? key.provider : list[0].id;
  const pickerField = field("Provider", picker, { name: "provider" });
  const models = h("div", { class: "picker-models" });
  const slot = h("div");
  const general = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, replace ? "Replace secret" : "Save key");
  let form = null;
  const build = () => {
    const provider = list.find((p) => p.id === picker.value);
    form = credentialForm(provider, { replace });
    fill(slot, form.el);
    fill(models, provider.models.length
      ? h("details", {}, h("summary", {}, `Models ${provider.name} serves (${provider.models.length})`),
        h("ul", { class: "model-list" }, provider.models.map((m) => h("li", {}, h("code", {}, m.id), ` ${m.input_usd_per_million} in / ${m.output_usd_per_million} out per million`))))
      : null);
  };
  picker.addEventListener("change", build);
  build();
  const body = h("form", { class: "key-form", novalidate: true },
    replace ? h("p", {}, `The new secret replaces the one of ${key.fingerprint}${key.label ? ` (${key.label})` : ""}.`) : null,
    pickerField, models, slot, general,
    h("p", { class: "hint" }, "The secret is sent once, encrypted by the vault, and never shown again."),
    h("div", { class: "actions" }, submit));
  const dlg = dialog(replace ? "Replace secret" : "Add key", body, { onClose: () => form && form.clear() });
  body.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.clearErrors();
    general.hidden = true;
    let input;
    try {
      input = form.read();
    } catch (problem) {
      if (!form.showError(problem.field, problem.message)) { general.textContent = problem.message; general.hidden = false; }
      return;
    }
    submit.disabled = true;
    try {
      let saved;
      if (replace) {
        const change = { secret: input.secret };
        if (Object.keys(input.config).length) change.config = input.config;
        saved = await patch(`/api/v1/keys/${encodeURIComponent(key.id)}`, change);
      } else {
        const payload = { provider: picker.value, secret: input.secret };
        if (input.label) payload.label = input.label;
        if (Object.keys(input.config).length) payload.config = input.config;
        saved = await post(keysPath(ctx.owner), payload);
      }
      input = null;
      form.clear();
      dlg.close();
      toast(`Saved: ${saved.fingerprint}${saved.label ? ` (${saved.label})` : ""}.`, "ok");
      onSaved();
    } catch (error) {
      if (error.status !== 401) showServerError(form, general, error);
    } finally {
      submit.disabled = false;
    }
  });
  picker.focus();
}

/** Renames a key: its label names routes (`azure/<label>`, `custom/<label>/...`). */
function renameDialog(key, name, onSaved) {
  const input = h("input", { type: "text", name: "label", autocomplete: "off", spellcheck: "false", value: key.label });
  const labelField = field("Label", input, {
    name: "label",
    hint: key.provider === "custom" ? "The endpoint's name: model ids are custom/<label>/<model>." : "Letters, digits, dot, underscore and dash. Routes that name the key by label follow the new one.",
  });
  const general = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Rename");
  const body = h("form", { class: "key-form", novalidate: true },
    h("p", {}, `A new label for ${name} key ${key.fingerprint}.`), labelField, general,
    h("div", { class: "actions" }, submit));
  const dlg = dialog("Rename key", body);
  body.addEventListener("submit", async (event) => {
    event.preventDefault();
    labelField.setError("");
    general.hidden = true;
    const label = input.value.trim();
    if (label && !LABEL.test(label)) {
      labelField.setError("label may hold only letters, digits, '.', '_' and '-', at most 64 of them");
      return;
    }
    if (!label && key.provider === "custom") {
      labelField.setError("label is required for a custom endpoint: it is the endpoint's name");
      return;
    }
    submit.disabled = true;
    try {
      const saved = await patch(`/api/v1/keys/${encodeURIComponent(key.id)}`, { label });
      dlg.close();
      toast(`Renamed ${saved.fingerprint}${saved.label ? ` to ${saved.label}` : ""}.`, "ok");
      onSaved();
    } catch (error) {
      if (error.status === 401) return;
      if (error.field === "label") labelField.setError(error.message);
      else { general.textContent = `${error.message}${error.hint ? ` ${error.hint}` : ""}`; general.hidden = false; }
    } finally {
      submit.disabled = false;
    }
  });
  input.focus();
  input.select();
}

function row(ctx, key, names, reload, list, keys) {
  const { owner } = ctx;
  const name = names.get(key.provider) || key.provider;
  const outcomeName = key.last_test_outcome;
  const toggleId = `enabled-${key.id}`;
  const toggle = h("input", { type: "checkbox", role: "switch", id: toggleId, checked: key.enabled, disabled: !owner.canManage });
  toggle.addEventListener("change", async () => {
    toggle.disabled = true;
    try {
      const saved = await patch(`/api/v1/keys/${encodeURIComponent(key.id)}`, { enabled: toggle.checked });
      key.enabled = saved.enabled;
      toast(`${key.fingerprint} ${saved.enabled ? "enabled" : "disabled"}.`, "ok");
    } catch (error) {
      toggle.checked = key.enabled;
      if (error.status !== 401) toast(`Not changed: ${error.message} ${error.hint}`.trim(), "error");
    } finally {
      toggle.disabled = !owner.canManage;
    }
  });
  const flask = h("button", { type: "button", class: "test", "aria-label": `Test ${key.fingerprint}`, disabled: !key.enabled, title: key.enabled ? "Send one tiny request with this key" : "Enable the key to test it" }, h("span", { "aria-hidden": "true" }, "⚗"), " Test");
  flask.addEventListener("click", async () => {
    flask.disabled = true;
    flask.setAttribute("aria-busy", "true");
    try {
      const result = await post(`/api/v1/keys/${encodeURIComponent(key.id)}/test`, {});
      toast(testMessage(result, name), result.ok ? "ok" : "error");
      reload();
    } catch (error) {
      if (error.status !== 401) toast(`The test did not run: ${error.message} ${error.hint}`.trim(), "error");
    } finally {
      flask.disabled = !key.enabled;
      flask.removeAttribute("aria-busy");
    }
  });
  const actions = [flask];
  if (owner.canManage) {
    actions.push(h("button", { type: "button", "aria-label": `Rename ${key.fingerprint}`, onclick: () => renameDialog(key, name, reload) }, "Rename"));
    actions.push(h("button", { type: "button", "aria-label": `Replace secret of ${key.fingerprint}`, onclick: () => keyDialog(ctx, list, keys, { key, onSaved: reload }) }, "Replace secret"));
    actions.push(h("button", {
      type: "button", class: "danger", "aria-label": `Delete ${key.fingerprint}`,
      onclick: async () => {
        const sure = await confirmDialog("Delete key?", `Delete ${name} key ${key.fingerprint}${key.label ? ` (${key.label})` : ""}? Calls stop using it at once; this cannot be undone.`, "Delete key");
        if (!sure) return;
        try {
          await del(`/api/v1/keys/${encodeURIComponent(key.id)}`);
          toast(`Deleted ${key.fingerprint}.`, "ok");
          reload();
        } catch (error) {
          if (error.status !== 401) toast(`Not deleted: ${error.message} ${error.hint}`.trim(), "error");
        }
      },
    }, "Delete"));
  }
  const outcome = outcomeName ? outcomeName.replace(/_/g, " ") : "—";
  return h("tr", { dataset: { key: key.id, provider: key.provider } },
    h("td", { "data-label": "Provider" }, name),
    h("td", { "data-label": "Label" }, key.label || "—"),
    h("td", { "data-label": "Fingerprint" }, h("code", {}, key.fingerprint)),
    h("td", { "data-label": "Created" }, when(key.created_at)),
    h("td", { "data-label": "Last tested" }, key.last_tested_at ? when(key.last_tested_at) : "Not yet"),
    h("td", { "data-label": "Last outcome", class: outcomeName ? (outcomeName === "ok" ? "ok-text" : "bad-text") : "" }, outcome),
    h("td", { "data-label": "Enabled" }, h("label", { class: "switch", for: toggleId }, toggle, h("span", { class: "sr-only" }, `Enabled: ${key.fingerprint}`))),
    h("td", { "data-label": "Actions", class: "row-actions" }, actions));
}

export async function render(ctx) {
  const { main, owner, title } = ctx;
  const body = h("div", {}, loading("Loading keys"));
  const add = h("button", { type: "button", class: "primary", disabled: true }, "Add key");
  fill(main, h("div", { class: "page-head" }, h("h1", {}, title), owner.canManage ? add : null),
    h("p", { class: "lede" }, owner.kind === "org" ? `Keys of ${owner.name}, used for its members' calls.` : "Your own provider keys (BYOK): your calls use them before platform keys."),
    owner.canManage ? null : h("p", { class: "notice" }, "Read-only: only the organization's owners and billing managers add, change or delete its keys. You can test them."),
    body);
  let list = [];
  let keys = [];
  const reload = async () => {
    try {
      [list, { data: keys }] = await Promise.all([providers(), get(keysPath(owner))]);
      const names = new Map(list.map((p) => [p.id, p.name]));
      add.disabled = false;
      if (!keys.length) {
        fill(body, empty(owner.canManage ? "No keys yet. Calls use platform keys (managed) until you add one." : "This organization has no keys yet.",
          owner.canManage ? h("button", { type: "button", onclick: () => add.click() }, "Add your first key") : null));
        return;
      }
      fill(body, table("Provider keys", ["Provider", "Label", "Fingerprint", "Created", "Last tested", "Last outcome", "Enabled", "Actions"],
        keys.map((k) => row(ctx, k, names, reload, list, keys)), { hideCaption: true }));
    } catch (error) {
      if (error.status !== 401) fill(body, errorBox(error, reload));
    }
  };
  add.addEventListener("click", () => keyDialog(ctx, list, keys, { onSaved: reload }));
  await reload();
}
