// Ask the app which WSGI server answered and show it: proves the page, its assets and the API
// all work through nginx.
"use strict";

(async () => {
  const box = document.getElementById("whoami");
  const status = document.getElementById("status");
  try {
    const response = await fetch(box.dataset.url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error(`HTTP ${response.status}`);
    }
    const info = await response.json();
    for (const dd of box.querySelectorAll("dd[data-field]")) {
      dd.textContent = String(info[dd.dataset.field]);
    }
    document.body.dataset.server = info.server;
    status.textContent = `Served by ${info.server}.`;
  } catch (error) {
    status.textContent = `Could not reach the app: ${error.message}`;
    status.classList.add("error");
  }
})();
