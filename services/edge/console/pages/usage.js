// Usage and billing: the balance, this month's spend by provider and model, BYOK against
// managed, spend per day as a chart, and the monthly cap (set and remove where allowed).
import { get, put, del, withQuery } from "../api.js";
import { h, fill, loading, empty, errorBox, toast, field, table, dollars } from "../dom.js";
import { dailyChart, monthDays } from "./chart.js";

const thisMonth = () => new Date().toISOString().slice(0, 7);

function stat(label, value, testid, sub) {
  return h("div", { class: "stat", "data-testid": testid }, h("p", { class: "stat-label" }, label), h("p", { class: "stat-value" }, value), sub ? h("p", { class: "hint" }, sub) : null);
}

function split(lines) {
  const sum = { byok: { requests: 0, cost: 0 }, managed: { requests: 0, cost: 0 } };
  for (const l of lines) {
    const k = l.key_source === "managed" ? "managed" : "byok";
    sum[k].requests += Number(l.requests) || 0;
    sum[k].cost += Number(l.cost_micros) || 0;
  }
  return sum;
}

function capForm(ctx, budget, reload) {
  const { owner } = ctx;
  const cap = Number(budget ? budget.monthly_cap_micros : 0);
  const status = h("p", { "data-testid": "cap-status" }, cap
    ? `Monthly cap: ${dollars(cap)}; spent ${dollars(budget.month_spend_micros)} this month. Calls are refused once it is reached.`
    : "No monthly cap: spending is not limited.");
  if (!owner.canManage) return h("section", { class: "card" }, h("h2", {}, "Monthly cap"), status, h("p", { class: "notice" }, "Only the organization's owners and billing managers set its cap."));
  const input = h("input", { type: "number", min: "0.01", step: "0.01", inputmode: "decimal", name: "cap", value: cap ? (cap / 1e6).toFixed(2) : "" });
  const f = field("Cap in US dollars per month", input, { name: "cap", hint: "UTC months. Calls are refused once the month's spend reaches it." });
  const save = h("button", { type: "submit", class: "primary" }, "Set cap");
  const remove = h("button", { type: "button", disabled: !cap }, "Remove cap");
  const form = h("form", { class: "cap-form", novalidate: true }, f, h("div", { class: "actions" }, save, remove));
  const ownerParam = owner.kind === "org" ? { owner_id: owner.id } : {};
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = Number(input.value);
    if (!Number.isFinite(value) || value <= 0) return f.setError("Enter an amount above zero, such as 50 or 12.50; use Remove cap for none.");
    f.setError("");
    save.disabled = true;
    try {
      await put("/api/v1/budget", { ...ownerParam, monthly_cap_micros: Math.round(value * 1e6) });
      toast(`Monthly cap set to ${dollars(Math.round(value * 1e6))}.`, "ok");
      reload();
    } catch (error) {
      if (error.status !== 401) f.setError(`${error.message} ${error.hint}`.trim());
    } finally {
      save.disabled = false;
    }
  });
  remove.addEventListener("click", async () => {
    try {
      await del(withQuery("/api/v1/budget", ownerParam));
      toast("Monthly cap removed.", "ok");
      reload();
    } catch (error) {
      if (error.status !== 401) f.setError(`${error.message} ${error.hint}`.trim());
    }
  });
  return h("section", { class: "card" }, h("h2", {}, "Monthly cap"), status, form);
}

async function daily(owner, month) {
  try {
    const r = await get(withQuery("/api/v1/usage/daily", { month, owner_id: owner.kind === "org" ? owner.id : "" }));
    const days = monthDays(r.month || month, r.days || []);
    if (!days.some((d) => Number(d.requests) > 0)) return empty("No calls yet this month: the chart fills in as calls are made.");
    return h("div", {}, dailyChart(days, `Spend per day, ${month}`),
      h("details", {}, h("summary", {}, "The same figures as a table"),
        table("Spend per day", ["Day", "Requests", "BYOK", "Managed", "Cost"],
          days.filter((d) => Number(d.requests) > 0).map((d) => h("tr", {}, h("td", {}, d.date), h("td", { class: "num" }, d.requests), h("td", { class: "num" }, d.byok_requests), h("td", { class: "num" }, d.managed_requests), h("td", { class: "num" }, dollars(d.cost_micros)))), { hideCaption: true })));
  } catch (error) {
    if (error.status === 401) throw error;
    return errorBox(error);
  }
}

export async function render(ctx) {
  const { main, owner, title } = ctx;
  const body = h("div", {}, loading("Loading usage"));
  fill(main, h("h1", {}, title), body);
  const load = async () => {
    const month = thisMonth();
    try {
      const [balance, usage, chart] = await Promise.all([
        get("/api/v1/balance"), get(withQuery("/api/v1/usage", { ...owner.query, month })), daily(owner, month),
      ]);
      const budget = owner.kind === "org" ? (balance.org_budgets || []).find((b) => b.owner_id === owner.id) : balance.budget;
      const sum = split(usage.data);
      const lines = [...usage.data].sort((a, b) => Number(b.cost_micros) - Number(a.cost_micros));
      fill(body,
        h("section", { class: "stats", "aria-label": "Summary" },
          owner.kind === "me" ? stat("Credit balance", balance.balance_usd, "balance", "Managed calls spend credits.") : null,
          stat(`Spend in ${usage.month}`, usage.total_cost_usd, "month-spend", `${usage.total.requests} requests`),
          stat("BYOK requests", String(sum.byok.requests), "byok-requests", `${dollars(sum.byok.cost)} estimated, billed by the provider to your key`),
          stat("Managed requests", String(sum.managed.requests), "managed-requests", `${dollars(sum.managed.cost)} paid from credits`)),
        h("section", { class: "card" }, h("h2", {}, "Spend per day"), chart),
        h("section", { class: "card" }, h("h2", {}, "This month by provider and model"),
          lines.length
            ? table(`Usage in ${usage.month}`, ["Provider", "Model", "Key source", "Requests", "Input tokens", "Output tokens", "Cost"],
              lines.map((l) => h("tr", {}, h("td", {}, l.provider), h("td", {}, h("code", {}, l.model)),
                h("td", {}, l.key_source === "managed" ? "Managed" : "BYOK"), h("td", { class: "num" }, l.requests),
                h("td", { class: "num" }, l.input_tokens), h("td", { class: "num" }, l.output_tokens), h("td", { class: "num" }, l.cost_usd))), { hideCaption: true })
            : empty("No calls this month yet.")),
        capForm(ctx, budget, load));
    } catch (error) {
      if (error.status !== 401) fill(body, errorBox(error, load));
    }
  };
  await load();
}
