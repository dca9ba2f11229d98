// Audit log of an organization: who did what to which key and when, newest first, paged.
import { get, withQuery } from "../api.js";
import { h, fill, loading, empty, errorBox, when, table } from "../dom.js";

const PAGE_SIZE = 25;

const ACTIONS = {
  "credential.create": "added a key",
  "credential.update": "replaced a key's secret",
  "credential.disable": "disabled a key",
  "credential.enable": "enabled a key",
  "credential.delete": "deleted a key",
  "provider_setting.set": "changed a provider's state",
};

function detail(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "object") return String(value);
  return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") || "—";
}

export async function render(ctx) {
  const { main, owner, title } = ctx;
  if (owner.kind !== "org") {
    fill(main, h("h1", {}, title), empty("Audit logs are kept per organization. Choose one of your organizations in “Acting for” above."));
    return;
  }
  const body = h("div", {}, loading("Loading the audit log"));
  fill(main, h("h1", {}, title), h("p", { class: "lede" }, `Changes to ${owner.name}'s keys and settings, newest first.`), body);
  const tokens = [""]; // page tokens of the pages seen; the last is the current page's
  const load = async () => {
    const current = tokens[tokens.length - 1];
    fill(body, loading("Loading the audit log"));
    try {
      const page = await get(withQuery(`/api/v1/orgs/${encodeURIComponent(owner.id)}/audit`, { page_size: PAGE_SIZE, page_token: current }));
      const newer = h("button", { type: "button", disabled: tokens.length === 1 }, "← Newer");
      const older = h("button", { type: "button", disabled: !page.next_page_token }, "Older →");
      newer.addEventListener("click", () => { tokens.pop(); load(); });
      older.addEventListener("click", () => { tokens.push(page.next_page_token); load(); });
      if (!page.data.length) {
        fill(body, empty(tokens.length === 1 ? "Nothing recorded yet: adding, changing or deleting a key shows here." : "No older events."));
        return;
      }
      fill(body,
        table("Audit events", ["When", "Who", "What", "Target", "Details"], page.data.map((e) => h("tr", {},
          h("td", { "data-label": "When" }, h("time", { datetime: e.time }, when(e.time))),
          h("td", { "data-label": "Who" }, e.actor ? h("code", {}, e.actor) : "operator"),
          h("td", { "data-label": "What" }, ACTIONS[e.action] || e.action, " ", h("code", { class: "muted" }, e.action)),
          h("td", { "data-label": "Target" }, h("code", {}, e.target)),
          h("td", { "data-label": "Details" }, detail(e.detail)))), { hideCaption: true }),
        h("nav", { class: "pager", "aria-label": "Audit pages" }, newer, h("span", {}, `Page ${tokens.length}`), older));
    } catch (error) {
      if (error.status === 403) fill(body, empty("Only the organization's owners and billing managers read its audit log."));
      else if (error.status !== 401) fill(body, errorBox(error, load));
    }
  };
  await load();
}
