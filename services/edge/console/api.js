// The console's only way to the server: the public /api/v1 REST API, same origin, with the
// session cookie. Unsafe methods carry the CSRF token read from the kr_csrf cookie. No token
// or secret is ever written to storage or the URL.

/** An API refusal: the server's `{"error":{"code","message","field"}}`, plus what to do. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || `The server answered ${status}.`);
    this.status = status;
    this.code = code || "";
    this.field = field || null;
    this.hint = hintFor(status, this.code);
  }
}

function hintFor(status, code) {
  if (status === 0) return "The gateway did not answer: check that it is running, then try again.";
  if (code === "permission_denied") return "Your role does not allow this: ask an owner or a billing manager of the organization.";
  if (code === "rate_limited") return "Too many attempts: wait a minute, then try again.";
  if (code === "unavailable" || code === "timeout" || status >= 500) return "The gateway could not finish this now: try again in a moment.";
  return "";
}

const listeners = new Set();
/** Called with the error whenever the server answers 401: the session is over. */
export function onUnauthenticated(fn) {
  listeners.add(fn);
}

function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "kr_csrf") return decodeURIComponent(rest.join("="));
  }
  return "";
}

/**
 * Calls the API. `body` is sent as JSON. Resolves with the parsed JSON (null for 204);
 * rejects with ApiError. A 401 also tells the listeners, unless `quiet401` is set (sign-in).
 */
export async function api(method, path, body, { quiet401 = false } = {}) {
  const headers = { accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (!["GET", "HEAD"].includes(method)) headers["x-csrf-token"] = csrfToken();
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The gateway could not be reached.");
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const e = (data && data.error) || {};
    const error = new ApiError(response.status, e.code, e.message, e.field);
    if (response.status === 401 && !quiet401) for (const fn of listeners) fn(error);
    throw error;
  }
  return data;
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body === undefined ? {} : body, opts);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

/** `path?k=v&...`, leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Providers are static per process: fetched once per sign-in. */
let providersCache = null;
export async function providers() {
  if (!providersCache) providersCache = get("/api/v1/providers").then((r) => r.data);
  try {
    return await providersCache;
  } catch (error) {
    providersCache = null;
    throw error;
  }
}
export function forgetCaches() {
  providersCache = null;
}
