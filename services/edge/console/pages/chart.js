// Spend per day as an inline SVG bar chart, built with createElementNS (no library). Every
// day of the month has a slot; a bar is split into BYOK and managed cost when the API gives
// the split. Each bar's <title> (a tooltip, read by screen readers) gives the day's figures.
import { h, dollars } from "../dom.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Every day of `month` (YYYY-MM) up to today, the API's days (calls only) filled in. */
export function monthDays(month, days) {
  const byDate = new Map(days.map((d) => [d.date, d]));
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const today = new Date().toISOString().slice(0, 10);
  const out = [];
  for (let d = 1; d <= last; d += 1) {
    const date = `${month}-${String(d).padStart(2, "0")}`;
    if (date > today && !byDate.has(date)) break;
    out.push(byDate.get(date) || { date, requests: 0, cost_micros: 0, byok_requests: 0, managed_requests: 0 });
  }
  return out;
}

/** days: [{date, requests, cost_micros, byok_requests, managed_requests, byok_cost_micros?, managed_cost_micros?}] */
export function dailyChart(days, caption) {
  const width = 720;
  const height = 220;
  const pad = { top: 16, right: 8, bottom: 28, left: 72 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const max = Math.max(1, ...days.map((d) => Number(d.cost_micros) || 0));
  const band = innerW / Math.max(1, days.length);
  const bar = Math.max(2, band * 0.7);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": caption, class: "chart" });
  for (const f of [0, 0.5, 1]) {
    const y = pad.top + innerH * (1 - f);
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, dollars(max * f)));
  }
  days.forEach((d, i) => {
    const cost = Number(d.cost_micros) || 0;
    const split = d.managed_cost_micros !== undefined;
    const managedCost = split ? Number(d.managed_cost_micros) || 0 : (Number(d.managed_requests) > 0 ? cost : 0);
    const byokCost = Math.max(0, cost - managedCost);
    const x = pad.left + i * band + (band - bar) / 2;
    const scale = (v) => (v > 0 ? Math.max(1, (v / max) * innerH) : 0);
    const hb = scale(byokCost);
    const hm = scale(managedCost);
    const base = pad.top + innerH;
    svg.append(s("g", { class: "day" },
      s("title", {}, `${d.date}: ${dollars(cost)}, ${d.requests} requests (${d.byok_requests} BYOK, ${d.managed_requests} managed)`),
      s("rect", { x, y: base - hb, width: bar, height: hb, class: "bar byok" }),
      s("rect", { x, y: base - hb - hm, width: bar, height: hm, class: "bar managed" })));
    if (days.length <= 10 || (i + 1) % 5 === 0 || i === 0) {
      svg.append(s("text", { x: x + bar / 2, y: height - 10, "text-anchor": "middle", class: "axis" }, String(i + 1)));
    }
  });
  return h("figure", { class: "chart-figure" }, svg,
    h("figcaption", {}, caption, " ", h("span", { class: "legend byok" }, "BYOK"), " ", h("span", { class: "legend managed" }, "Managed")));
}
