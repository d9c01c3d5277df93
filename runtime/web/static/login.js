"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch("/api/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: document.getElementById("name").value, password: document.getElementById("password").value }) });
  if (response.ok) { location.href = "/"; return; }
  const data = await response.json().catch(() => ({}));
  error.textContent = data.error || `refused (${response.status})`;
  document.getElementById("password").value = "";
});
