// The console's shell: sign-in (a one-time code from `keyroute dev`'s link, or a gateway
// token), the owner switcher ("me" or an organization), navigation between pages, sign-out.
import { api, get, post, del, onUnauthenticated, forgetCaches } from "./api.js";
import { h, fill, field, secretInput, loading, errorBox } from "./dom.js";

const PAGES = [
  { id: "providers", title: "Providers", load: () => import("./pages/providers.js") },
  { id: "keys", title: "Keys", load: () => import("./pages/keys.js") },
  { id: "usage", title: "Usage and billing", load: () => import("./pages/usage.js") },
  { id: "audit", title: "Audit log", load: () => import("./pages/audit.js") },
  { id: "models", title: "Models", load: () => import("./pages/models.js") },
  { id: "tokens", title: "Gateway tokens", load: () => import("./pages/tokens.js") },
];

const state = { session: null, signedOut: true };
const root = () => document.getElementById("app");

/** "owner", "billing_manager" or "member", whatever spelling the server uses. */
export function normalRole(role) {
  return String(role || "").toLowerCase().replace(/^role_/, "").replace(/-/g, "_");
}

/** The owner a page acts for, from the route: me, or one of my orgs. */
function ownerFor(orgId) {
  const s = state.session;
  const org = orgId && (s.orgs || []).find((o) => o.id === orgId);
  if (org) {
    const role = normalRole(org.role);
    return {
      kind: "org", id: org.id, name: org.name || org.id, role,
      canManage: role === "owner" || role === "billing_manager",
      query: { org: org.id },
    };
  }
  return { kind: "me", id: s.principal_id, name: s.name || "Me", role: "self", canManage: true, query: {} };
}

function route() {
  const [, page = "", org = ""] = location.hash.match(/^#\/([a-z]+)(?:\/([^/?#]+))?/) || [];
  return { page: PAGES.find((p) => p.id === page) || PAGES[0], org: decodeURIComponent(org) };
}

function hrefFor(pageId, owner) {
  return owner.kind === "org" ? `#/${pageId}/${encodeURIComponent(owner.id)}` : `#/${pageId}`;
}

// ---- sign-in ----

function signInScreen(notice) {
  state.session = null;
  forgetCaches();
  document.title = "Sign in · keyroute console";
  const secret = secretInput({ name: "token", required: true, placeholder: "kr_…" });
  secret.input.autocomplete = "current-password";
  const tokenField = field("Gateway token", secret, {
    name: "token",
    hint: "A kr_… token from `keyroute dev` or `keyroute admin tokens issue`. It is exchanged for a short session and not kept by the page.",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "signin", novalidate: true },
    h("h1", {}, "Sign in to keyroute"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    tokenField, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = secret.input.value.trim();
    if (!token) return tokenField.setError("Paste a gateway token (it starts with kr_).");
    tokenField.setError("");
    submit.disabled = true;
    try {
      await post("/api/v1/session", { token }, { quiet401: true });
      secret.input.value = "";
      await start();
    } catch (error) {
      secret.input.value = "";
      tokenField.setError(error.status === 401
        ? "This token was refused: it is unknown, revoked or expired. Issue a new one and try again."
        : `${error.message} ${error.hint}`.trim());
      secret.input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  fill(root(), h("main", { id: "main", tabindex: "-1", class: "signin-main" }, form));
  secret.input.focus();
}

async function exchangeCode() {
  const match = location.hash.match(/(?:^#|&)code=([^&]*)/);
  if (!match) return null;
  // The code leaves the address bar (and history) before anything else happens.
  history.replaceState(null, "", location.pathname + location.search);
  try {
    await post("/api/v1/session", { code: decodeURIComponent(match[1]) }, { quiet401: true });
    return null;
  } catch (error) {
    return error.status === 401 || error.status === 400
      ? "This sign-in link was already used or has expired. Sign in with a gateway token, or run `keyroute dev` again for a new link."
      : `${error.message} ${error.hint}`.trim();
  }
}

// ---- the shell ----

function shell(owner, page) {
  const s = state.session;
  const select = h("select", { id: "owner", name: "owner" },
    h("option", { value: "" }, `Me${s.name ? ` (${s.name})` : ""}`),
    (s.orgs || []).map((o) => h("option", { value: o.id }, `${o.name || o.id} · ${normalRole(o.role).replace("_", " ")}`)));
  select.value = owner.kind === "org" ? owner.id : "";
  select.addEventListener("change", () => {
    location.hash = select.value ? `#/${page.id}/${encodeURIComponent(select.value)}` : `#/${page.id}`;
  });
  const signOut = h("button", { type: "button", class: "signout" }, "Sign out");
  signOut.addEventListener("click", async () => {
    signOut.disabled = true;
    try {
      await del("/api/v1/session");
    } catch {
      // Signed out either way: the page forgets the session.
    }
    history.replaceState(null, "", location.pathname);
    signInScreen("You are signed out.");
  });
  const nav = h("nav", { "aria-label": "Pages" }, h("ul", {},
    PAGES.map((p) => h("li", {}, h("a", { href: hrefFor(p.id, owner), "aria-current": p.id === page.id ? "page" : false }, p.title)))));
  const main = h("main", { id: "main", tabindex: "-1" }, loading());
  fill(root(),
    h("header", { class: "top" },
      h("a", { class: "brand", href: hrefFor("providers", owner) }, "keyroute"),
      h("div", { class: "owner-switch" }, h("label", { for: "owner" }, "Acting for"), select),
      h("span", { class: "who", title: s.principal_id }, s.name || s.principal_id),
      signOut),
    nav, main);
  return main;
}

let renderSeq = 0;
async function render() {
  if (!state.session) return;
  const seq = ++renderSeq;
  const { page, org } = route();
  const owner = ownerFor(org);
  document.title = `${page.title} · keyroute console`;
  const main = shell(owner, page);
  try {
    const module = await page.load();
    if (seq !== renderSeq) return;
    fill(main);
    await module.render({ owner, session: state.session, main, title: page.title, rerender: render });
  } catch (error) {
    if (seq !== renderSeq || error.status === 401) return;
    fill(main, h("h1", {}, page.title), errorBox(error, render));
  }
}

async function start() {
  try {
    state.session = await get("/api/v1/session", { quiet401: true });
  } catch (error) {
    if (error.status === 401) return signInScreen();
    fill(root(), h("main", { id: "main" }, h("h1", {}, "keyroute console"), errorBox(error, start)));
    return;
  }
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", `${location.pathname}#/providers`);
  await render();
}

onUnauthenticated(() => {
  if (state.session) signInScreen("Your session ended. Sign in again.");
});
window.addEventListener("hashchange", () => {
  if (!/code=/.test(location.hash)) render();
  else boot();
});

async function boot() {
  const notice = await exchangeCode();
  if (notice) return signInScreen(notice);
  await start();
}

boot();

// Exposed for pages: a fresh copy of the session (orgs may change).
export async function refreshSession() {
  state.session = await api("GET", "/api/v1/session");
  return state.session;
}
