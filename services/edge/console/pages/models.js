// Models: every catalog model the selected owner can route now, plain and provider-prefixed,
// with its provider and where the key comes from (the owner's own key, or a platform key),
// and a copy button for each id. Built from /api/v1/providers, the provider settings and the
// owner's keys: a provider that is disabled, or has no key while platform keys may not stand
// in, is left out.
import { get, providers } from "../api.js";
import { h, fill, loading, empty, errorBox, copyButton, table } from "../dom.js";
import { settingsFor, keysPath } from "./providers.js";

function source(provider, setting, keys) {
  if (setting.mode === "disabled") return null;
  if (setting.mode === "managed") return "Managed";
  const own = keys.some((k) => k.provider === provider.id && k.enabled);
  if (own) return "Your key";
  return setting.fallback === "never" ? null : "Managed";
}

export async function render(ctx) {
  const { main, owner, title } = ctx;
  const body = h("div", {}, loading("Loading models"));
  const filter = h("input", { type: "search", id: "model-filter", placeholder: "gpt, claude, gemini…", autocomplete: "off" });
  fill(main, h("h1", {}, title),
    h("p", { class: "lede" }, "Ask for a model by its plain id, or pin the provider with the prefixed id."),
    h("div", { class: "field inline" }, h("label", { for: "model-filter" }, "Filter models"), filter), body);
  try {
    const [list, setting, keys] = await Promise.all([providers(), settingsFor(owner), get(keysPath(owner))]);
    const rows = [];
    const off = [];
    for (const p of list) {
      const src = source(p, setting(p.id), keys.data);
      if (!src) { off.push(p.name); continue; }
      for (const m of p.models) rows.push({ provider: p, model: m, src });
    }
    if (!rows.length) {
      fill(body, empty("No model can be routed now: every provider is disabled or lacks a key. Add a key or switch a provider to Managed."));
      return;
    }
    const trs = rows.map(({ provider, model, src }) => {
      const prefixed = `${provider.id}/${model.id}`;
      return h("tr", { dataset: { search: `${model.id} ${prefixed} ${provider.name}`.toLowerCase() } },
        h("td", { "data-label": "Model" }, h("code", {}, model.id), " ", copyButton(model.id)),
        h("td", { "data-label": "Prefixed" }, h("code", {}, prefixed), " ", copyButton(prefixed)),
        h("td", { "data-label": "Provider" }, provider.name),
        h("td", { "data-label": "Key source" }, src),
        h("td", { "data-label": "Price per million", class: "num" }, `${model.input_usd_per_million} / ${model.output_usd_per_million}`));
    });
    const count = h("p", { class: "hint", role: "status" }, `${trs.length} models`);
    filter.addEventListener("input", () => {
      const q = filter.value.trim().toLowerCase();
      let shown = 0;
      for (const tr of trs) { tr.hidden = Boolean(q) && !tr.dataset.search.includes(q); if (!tr.hidden) shown += 1; }
      count.textContent = `${shown} of ${trs.length} models`;
    });
    fill(body, count, table("Routable models", ["Model", "Prefixed", "Provider", "Key source", "Input / output per million"], trs, { hideCaption: true }),
      off.length ? h("p", { class: "hint" }, `Not routable now: ${off.join(", ")} (disabled, or no key and no platform fallback).`) : null);
  } catch (error) {
    if (error.status !== 401) fill(body, errorBox(error));
  }
}
