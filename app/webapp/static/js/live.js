// The page's live part: a WebSocket to the app (ws/README.md), on which what is said comes back
// with the server and worker that heard it.
"use strict";

(() => {
  const section = document.getElementById("live");
  const heard = document.getElementById("heard");
  const form = document.getElementById("say");
  // ws:// or wss://, as the page came: Flask builds it from the request nginx passed on.
  const socket = new WebSocket(section.dataset.url);
  socket.addEventListener("open", () => socket.send("hello"));
  socket.addEventListener("message", (event) => {
    const answer = JSON.parse(event.data);
    heard.textContent = `${answer.server} heard "${answer.said}" (${answer.sockets} open on its worker).`;
    section.dataset.state = "open";
  });
  socket.addEventListener("close", (event) => {
    heard.textContent = `Closed (${event.code}); reload the page to reconnect.`;
    section.dataset.state = "closed";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(form.elements.text.value);
    }
    form.reset();
  });
})();
