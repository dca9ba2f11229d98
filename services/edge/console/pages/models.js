// Models: every model I can route now, as the router itself decides (GET /api/v1/models):
// plain catalog ids and the provider-pinned ids of every key I can use, models my keys'
// providers listed included, each with its provider, where the key comes from (my own key,
// or a platform key) and a copy button. Prices come from the catalog (/api/v1/providers).
import { get, providers } from "../api.js";
import { h, fill, loading, empty, errorBox, copyButton, table } from "../dom.js";

const SOURCES = { byok: "Your key", managed: "Managed" };

// The catalog price of a provider's model, as "input / output" dollars per million, if known.
function priceIndex(list) {
  const prices = new Map();
  for (const p of list) {
    for (const m of p.models) prices.set(`${p.id}\u0000${m.id}`, `${m.input_usd_per_million} / ${m.output_usd_per_million}`);
  }
  return (model) => prices.get(`${model.provider}\u0000${model.upstream}`) || prices.get(`${model.provider}\u0000${model.id}`) || "—";
}

export async function render(ctx) {
  const { main, title } = ctx;
  const body = h("div", {}, loading("Loading models"));
  const filter = h("input", { type: "search", id: "model-filter", placeholder: "gpt, claude, gemini…", autocomplete: "off" });
  fill(main, h("h1", {}, title),
    h("p", { class: "lede" }, "Ask for a model by its plain id, or pin the provider with the prefixed id."),
    h("div", { class: "field inline" }, h("label", { for: "model-filter" }, "Filter models"), filter), body);
  try {
    const [routable, list] = await Promise.all([get("/api/v1/models"), providers()]);
    if (!routable.data.length) {
      fill(body, empty("No model can be routed now: every provider is disabled or lacks a key. Add a key or switch a provider to Managed."));
      return;
    }
    const names = new Map(list.map((p) => [p.id, p.name]));
    const price = priceIndex(list);
    const trs = routable.data.map((model) => {
      const provider = names.get(model.provider) || model.provider;
      const found = model.discovered ? " (listed by the provider)" : "";
      return h("tr", { dataset: { search: `${model.id} ${model.upstream} ${provider}`.toLowerCase() } },
        h("td", { "data-label": "Model" }, h("code", {}, model.id), " ", copyButton(model.id)),
        h("td", { "data-label": "Provider" }, `${provider}${found}`),
        h("td", { "data-label": "Key source" }, SOURCES[model.key_source] || model.key_source),
        h("td", { "data-label": "Provider's name" }, h("code", {}, model.upstream)),
        h("td", { "data-label": "Price per million", class: "num" }, price(model)));
    });
    const count = h("p", { class: "hint", role: "status" }, `${trs.length} models`);
    filter.addEventListener("input", () => {
      const q = filter.value.trim().toLowerCase();
      let shown = 0;
      for (const tr of trs) { tr.hidden = Boolean(q) && !tr.dataset.search.includes(q); if (!tr.hidden) shown += 1; }
      count.textContent = `${shown} of ${trs.length} models`;
    });
    fill(body, count, table("Routable models", ["Model", "Provider", "Key source", "Provider's name", "Input / output per million"], trs, { hideCaption: true }));
  } catch (error) {
    if (error.status !== 401) fill(body, errorBox(error));
  }
}
