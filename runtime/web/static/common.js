// Shared by every page: the session (CSRF token), JSON calls, the header.
"use strict";
const me = { csrf: null, account: null, role: null };

async function api(path, options = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && me.csrf) headers["X-CSRF-Token"] = me.csrf;
  const response = await fetch(path, { method: options.method || "GET", headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (response.status === 401) { location.href = "/login"; throw new Error("not logged in"); }
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

async function startSession() {
  Object.assign(me, await api("/api/session"));
  const who = document.getElementById("who");
  if (who) who.textContent = `${me.account} (${me.role})`;
  const out = document.getElementById("logout");
  if (out) out.addEventListener("click", async () => { await api("/api/logout", { method: "POST" }); location.href = "/login"; });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function fmt(value, digits = 2) { return value === null || value === undefined ? "-" : Number(value).toFixed(digits); }

function ago(seconds) {
  if (seconds < 60) return `${Math.max(0, Math.floor(seconds))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor(seconds % 3600 / 60)} min`;
}
