// The credential form of one provider, drawn from the fields `GET /api/v1/providers` lists
// (name, required, secret, description), with the composite secrets a person should not have
// to write as JSON by hand: Bedrock's access key pair, Vertex's service-account file, a custom
// endpoint's key and auth token. Checks mirror the vault's (services/vault/src/validate.rs);
// the server's own error is shown on the field it names.
import { h, field, secretInput } from "../dom.js";

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const REGION = /^[a-z]+(-[a-z]+)+-[0-9]+$/;

/** The vault's rule for a key string; null when fine. */
export function keyProblem(what, value) {
  const v = value.trim();
  if (!v) return `${what} is empty.`;
  if (v.length > 4096) return `${what} is longer than 4096 bytes.`;
  const at = [...v].findIndex((c) => /\s|[\u0000-\u001f\u007f]/.test(c));
  if (at >= 0) return `${what} contains whitespace or a control character at position ${at}: paste it again without spaces or line breaks.`;
  if (/[^\x20-\x7e]/.test(v)) return `${what} contains non-ASCII characters.`;
  return null;
}

function urlProblem(what, value, httpsOnly) {
  try {
    const u = new URL(value.trim());
    if (u.protocol === "https:" || (!httpsOnly && u.protocol === "http:")) return null;
  } catch { /* reported below */ }
  return `${what} must be an ${httpsOnly ? "https://" : "http:// or https://"} URL.`;
}

function titleOf(name) {
  const key = name.replace(/^config\./, "");
  const words = { secret: "Secret", label: "Label", region: "Region", endpoint: "Endpoint", deployment: "Deployment", api_version: "API version", project_id: "Project", location: "Location", base_url: "Base URL" };
  return words[key] || key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

function textInput(name, placeholder) {
  return h("input", { type: "text", name, autocomplete: "off", spellcheck: "false", placeholder });
}

/**
 * Builds the form body for `provider`. `replace` leaves out the label (a key's label stays).
 * Returns { el, read(): {secret, label, config} | throws {field, message}, fields, clear(), showError(field, message) }.
 */
export function credentialForm(provider, { replace = false } = {}) {
  const shape = provider.credential.shape;
  const described = new Map(provider.credential.fields.map((f) => [f.name, f]));
  const wrappers = new Map(); // field name -> field wrapper (for errors)
  const controls = new Map(); // field name -> input
  const secrets = []; // inputs to clear after saving
  const parts = [];

  const add = (name, labelText, control, hint, input = control) => {
    const w = field(labelText, control, { hint, name });
    wrappers.set(name, w);
    controls.set(name, input);
    parts.push(w);
    return w;
  };
  const secretField = (name, labelText, hint, opts = {}) => {
    const s = secretInput({ name, ...opts });
    secrets.push(s.input);
    add(name, labelText, s, hint, s.input);
    return s.input;
  };
  const desc = (name) => (described.get(name) || {}).description || "";

  let bedrockMode = null;
  let vertexFile = null;
  if (shape === "aws") {
    bedrockMode = h("select", { name: "bedrock-mode" },
      h("option", { value: "pair" }, "Access key id and secret access key"),
      h("option", { value: "apikey" }, "Bedrock API key"),
      h("option", { value: "json" }, "JSON"));
    add("bedrock-mode", "Credential kind", bedrockMode, "An access key pair is turned into the JSON the vault stores.");
    add("secret.accessKeyId", "Access key id", textInput("accessKeyId", "AKIA…"), "16 or more uppercase letters and digits.");
    secretField("secret.secretAccessKey", "Secret access key", "");
    secretField("secret.sessionToken", "Session token (optional)", "Only for temporary credentials.");
    add("secret.region", "Region", textInput("region", "us-east-1"), "The AWS region, such as us-east-1.");
    secretField("secret", "Bedrock API key or JSON", desc("secret"), { multiline: true });
    add("config.region", "Region", textInput("config.region", "us-east-1"), desc("config.region"));
    const sync = () => {
      const m = bedrockMode.value;
      for (const n of ["secret.accessKeyId", "secret.secretAccessKey", "secret.sessionToken", "secret.region"]) wrappers.get(n).hidden = m !== "pair";
      wrappers.get("secret").hidden = m === "pair";
      wrappers.get("config.region").hidden = m !== "apikey";
    };
    bedrockMode.addEventListener("change", sync);
    sync();
  } else if (shape === "google_service_account") {
    const file = h("input", { type: "file", name: "service-account-file", accept: "application/json,.json" });
    add("file", "Service-account key file", file, "The JSON key file from Google Cloud; it is read here and sent once.");
    file.addEventListener("change", async () => {
      vertexFile = file.files[0] ? await file.files[0].text() : null;
    });
    secretField("secret", "…or paste the JSON key", desc("secret"), { multiline: true });
  } else if (shape === "custom_endpoint") {
    secretField("secret.apiKey", "API key (optional)", "Sent as a bearer token.");
    secretField("secret.authToken", "Auth token (optional)", "Sent when the server wants a token besides, or instead of, a key.");
  } else if (described.has("secret")) {
    secretField("secret", shape === "azure" ? "API key" : "API key", desc("secret"), { required: true });
  }
  for (const f of provider.credential.fields) {
    if (f.name === "secret" || controls.has(f.name)) continue;
    if (f.name === "label" && replace) continue;
    const labelText = f.name === "label" && shape === "custom_endpoint" ? "Name" : titleOf(f.name);
    add(f.name, f.required ? labelText : `${labelText} (optional)`, textInput(f.name), f.description);
    if (f.required) controls.get(f.name).required = !replace;
  }

  const value = (name) => (controls.get(name) ? controls.get(name).value.trim() : "");
  const fail = (name, message) => { throw Object.assign(new Error(message), { field: name }); };

  function read() {
    const config = {};
    for (const [name] of controls) {
      if (name.startsWith("config.") && value(name) && !(wrappers.get(name) || {}).hidden) config[name.slice(7)] = value(name);
    }
    const label = replace ? "" : value("label");
    if (label && !NAME.test(label)) fail("label", "Label must be 1 to 64 letters, digits, '.', '_' or '-'.");
    let secret = "";
    if (shape === "aws") {
      if (bedrockMode.value === "pair") {
        const id = value("secret.accessKeyId");
        if (!/^[A-Z0-9]{16,}$/.test(id)) fail("secret.accessKeyId", "Must be an AWS access key id: 16 or more uppercase letters and digits.");
        const sak = controls.get("secret.secretAccessKey").value;
        const p = keyProblem("The secret access key", sak); if (p) fail("secret.secretAccessKey", p);
        const region = value("secret.region");
        if (!REGION.test(region)) fail("secret.region", "Must be an AWS region such as us-east-1.");
        const o = { accessKeyId: id, secretAccessKey: sak.trim(), region };
        const token = controls.get("secret.sessionToken").value.trim();
        if (token) o.sessionToken = token;
        secret = JSON.stringify(o);
      } else {
        secret = controls.get("secret").value.trim();
        if (bedrockMode.value === "json") {
          let o = null;
          try { o = JSON.parse(secret); } catch { /* below */ }
          if (!o || typeof o !== "object" || Array.isArray(o)) fail("secret", "This is not a JSON object: {\"accessKeyId\", \"secretAccessKey\", \"region\"}.");
        } else {
          const p = keyProblem("The Bedrock API key", secret); if (p) fail("secret", p);
          if (!REGION.test(config.region || "")) fail("config.region", "A Bedrock API key needs its AWS region, such as us-east-1.");
        }
      }
    } else if (shape === "google_service_account") {
      secret = (controls.get("secret").value.trim() || vertexFile || "").trim();
      let o = null;
      try { o = JSON.parse(secret); } catch { /* below */ }
      if (!o || typeof o !== "object") fail("secret", "Choose the service account's JSON key file, or paste its contents.");
      if (o.type !== "service_account") fail("secret", "This JSON is not a service-account key (its type must be \"service_account\").");
      if (!String(o.client_email || "").includes("@")) fail("secret", "The key file has no client_email.");
      if (!o.private_key) fail("secret", "The key file has no private_key.");
      if (!o.project_id && !config.project_id) fail("config.project_id", "The key file names no project: enter the Google Cloud project.");
    } else if (shape === "custom_endpoint") {
      if (!replace && !label) fail("label", "Give the endpoint a name: clients ask for custom/<name>/<model>.");
      const apiKey = controls.get("secret.apiKey").value.trim();
      const authToken = controls.get("secret.authToken").value.trim();
      if (apiKey) { const p = keyProblem("The API key", apiKey); if (p) fail("secret.apiKey", p); }
      if (authToken) { const p = keyProblem("The auth token", authToken); if (p) fail("secret.authToken", p); }
      secret = authToken ? JSON.stringify(apiKey ? { apiKey, authToken } : { authToken }) : apiKey;
    } else {
      secret = controls.get("secret").value;
      const p = keyProblem("The key", secret); if (p) fail("secret", p);
      secret = secret.trim();
    }
    if (shape === "azure") {
      if (!replace || config.endpoint) { const p = urlProblem("The endpoint", config.endpoint || "", true); if (p) fail("config.endpoint", p); }
      if (!replace && !NAME.test(config.deployment || "")) fail("config.deployment", "The deployment name is 1 to 64 letters, digits, '.', '_' or '-'.");
    }
    if (shape === "custom_endpoint" && (!replace || config.base_url)) {
      const p = urlProblem("The base URL", config.base_url || "", false); if (p) fail("config.base_url", p);
    }
    return { secret, label, config };
  }

  /** Shows a message on the named field (the server's `field`, or the message's first word). */
  function showError(name, message) {
    // The named field, else the field the message starts with (`secret.accessKeyId must...`),
    // else the part of the secret that is on screen.
    const first = String(message || "").split(/[\s:]/)[0];
    const candidates = [name, first];
    if ([name, first].some((n) => n && n.startsWith("secret"))) candidates.push("secret", "secret.apiKey", "secret.secretAccessKey");
    const key = candidates.find((n) => n && wrappers.has(n) && !wrappers.get(n).hidden);
    if (!key) return false;
    wrappers.get(key).setError(message);
    controls.get(key).focus();
    return true;
  }

  function clearErrors() {
    for (const w of wrappers.values()) w.setError("");
  }

  function clear() {
    for (const input of secrets) input.value = "";
    vertexFile = null;
    const file = controls.get("file");
    if (file) file.value = "";
  }

  return { el: h("div", { class: "credential-form" }, parts), read, showError, clearErrors, clear };
}
