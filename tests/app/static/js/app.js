// The tests' page script: asks the app which server answered, through nginx, and says so on
// the page. nginx serves this file gzipped to clients that accept it (over 256 bytes: gzip's
// threshold in nginx.conf), which the tests check.
"use strict";

(async () => {
  const box = document.getElementById("whoami");
  const response = await fetch(box.dataset.url, { headers: { Accept: "application/json" } });
  document.body.dataset.server = response.ok ? (await response.json()).server : `HTTP ${response.status}`;
})();
