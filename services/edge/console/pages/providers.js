// Providers: one row per provider with its state for the selected owner (Managed, Custom Key,
// Disabled), switchable where the role allows; its catalog models and prices, expandable; and
// where a key is missing, where the provider issues keys.
import { get, put, providers, withQuery } from "../api.js";
import { h, fill, loading, errorBox, toast, table } from "../dom.js";

export const MODES = [
  { value: "custom_key", label: "Custom Key", explain: "Your own keys serve it; platform keys stand in when you have none." },
  { value: "managed", label: "Managed", explain: "Only platform keys serve it, paid from credits." },
  { value: "disabled", label: "Disabled", explain: "Never routed: calls for its models are refused." },
];

/** Where each provider issues keys (shown when no key is configured). */
export const KEY_SOURCES = {
  openai: ["https://platform.openai.com/api-keys", "Sign in, open API keys, Create new secret key."],
  anthropic: ["https://console.anthropic.com/settings/keys", "Open Settings → API keys, Create Key."],
  google: ["https://aistudio.google.com/apikey", "Open Get API key, Create API key."],
  vertex: ["https://console.cloud.google.com/iam-admin/serviceaccounts", "Create a service account with the Vertex AI User role, then Keys → Add key → JSON."],
  bedrock: ["https://console.aws.amazon.com/iam/home#/security_credentials", "Create an access key for an IAM user allowed bedrock:InvokeModel, or a Bedrock API key in the Bedrock console."],
  azure: ["https://portal.azure.com/#view/Microsoft_Azure_ProjectOxford/CognitiveServicesHub/~/OpenAI", "Open the Azure OpenAI resource → Keys and Endpoint; create a deployment in Azure AI Foundry."],
  mistral: ["https://console.mistral.ai/api-keys", "Open API Keys, Create new key."],
  deepseek: ["https://platform.deepseek.com/api_keys", "Open API keys, Create new API key."],
  xai: ["https://console.x.ai", "Open API Keys, Create API key."],
  minimax: ["https://www.minimax.io/platform", "Open Account → API Keys, create a key."],
  moonshot: ["https://platform.moonshot.ai/console/api-keys", "Open API Keys, Create."],
  perplexity: ["https://www.perplexity.ai/settings/api", "Open Settings → API, Generate."],
  fireworks: ["https://fireworks.ai/account/api-keys", "Open Account → API Keys, Create API key."],
  novita: ["https://novita.ai/settings/key-management", "Open Key Management, Add new key."],
  inception: ["https://platform.inceptionlabs.ai", "Open API Keys, create a key."],
  xiaomi: ["https://platform.xiaomimimo.com", "Open API Keys, create a key."],
  zai: ["https://z.ai/manage-apikey/apikey-list", "Open API Keys, Create a new API key."],
  openrouter: ["https://openrouter.ai/settings/keys", "Open Settings → Keys, Create Key."],
  custom: [null, "Any OpenAI-compatible server: its base URL, and a key if it takes one."],
};

export function modeLabel(mode) {
  return (MODES.find((m) => m.value === mode) || MODES[0]).label;
}

/** The owner's settings as provider → {mode, fallback_policy}; no setting reads custom_key. */
export async function settingsFor(owner) {
  const list = await get(withQuery("/api/v1/provider-settings", owner.query));
  const map = new Map();
  for (const s of list.data) map.set(s.provider, s);
  return (provider) => {
    const s = map.get(provider);
    return { mode: s && s.mode !== "unspecified" ? s.mode : "custom_key", fallback: s ? s.fallback_policy : "when_no_key" };
  };
}

export function keysPath(owner) {
  return owner.kind === "org" ? `/api/v1/orgs/${encodeURIComponent(owner.id)}/keys` : "/api/v1/keys";
}

function modelsDetails(provider) {
  if (!provider.models.length) return h("p", { class: "hint" }, "No catalog models: any model the endpoint serves can be asked for by name.");
  return h("details", { class: "models" },
    h("summary", {}, `${provider.models.length} model${provider.models.length === 1 ? "" : "s"} with prices`),
    table(`${provider.name} models, USD per million tokens`, ["Model", "Provider's name", "Input", "Output"],
      provider.models.map((m) => h("tr", {},
        h("td", {}, h("code", {}, m.id)), h("td", {}, h("code", {}, m.upstream)),
        h("td", { class: "num" }, m.input_usd_per_million), h("td", { class: "num" }, m.output_usd_per_million)))));
}

function keyLine(provider, keys, mode) {
  const enabled = keys.filter((k) => k.provider === provider.id && k.enabled).length;
  if (enabled) return h("p", { class: "ok-text" }, `${enabled} key${enabled === 1 ? "" : "s"} configured.`);
  if (mode === "managed") return h("p", { class: "hint" }, "Platform keys serve it.");
  const [url, steps] = KEY_SOURCES[provider.id] || [null, ""];
  return h("p", { class: "hint missing-key" }, "No key yet. ", steps, " ",
    url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, `Get a key from ${provider.name}`) : null);
}

function row(ctx, provider, setting, keys) {
  const { owner } = ctx;
  let current = setting.mode;
  const id = `mode-${provider.id}`;
  const stateText = h("p", { class: `state state-${current}`, dataset: { testid: "state" } });
  const describe = () => {
    const m = MODES.find((x) => x.value === current) || MODES[0];
    fill(stateText, h("strong", {}, `${m.label}: `), m.explain);
  };
  describe();
  const select = h("select", { id, disabled: !owner.canManage },
    MODES.map((m) => h("option", { value: m.value }, m.label)));
  select.value = current;
  select.addEventListener("change", async () => {
    const wanted = select.value;
    select.disabled = true;
    try {
      const saved = await put(withQuery("/api/v1/provider-settings", owner.query), { provider: provider.id, mode: wanted });
      current = saved.mode;
      describe();
      toast(`${provider.name} is now ${modeLabel(current)}.`, "ok");
    } catch (error) {
      select.value = current;
      if (error.status !== 401) toast(`${provider.name} was not changed: ${error.message} ${error.hint}`.trim(), "error");
    } finally {
      select.disabled = !owner.canManage;
    }
  });
  return h("li", { class: "provider card", dataset: { provider: provider.id } },
    h("div", { class: "provider-head" },
      h("h2", {}, provider.name),
      h("div", { class: "mode" }, h("label", { for: id }, `State of ${provider.name}`), select)),
    stateText,
    keyLine(provider, keys, current),
    modelsDetails(provider));
}

export async function render(ctx) {
  const { main, owner, title } = ctx;
  const body = h("div", {}, loading("Loading providers"));
  fill(main, h("h1", {}, title), h("p", { class: "lede" }, `State of each provider for ${owner.kind === "org" ? owner.name : "you"}.`),
    owner.canManage ? null : h("p", { class: "notice" }, "Read-only: only the organization's owners and billing managers change these."),
    body);
  const load = async () => {
    try {
      const [list, setting, keys] = await Promise.all([providers(), settingsFor(owner), get(keysPath(owner))]);
      fill(body, h("ul", { class: "providers" }, list.map((p) => row(ctx, p, setting(p.id), keys.data))));
    } catch (error) {
      if (error.status !== 401) fill(body, errorBox(error, load));
    }
  };
  await load();
}
