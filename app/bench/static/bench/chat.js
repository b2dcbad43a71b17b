// The chat demo: one WebSocket to /ws/chat/<room>/ on the port that served this page. The page
// loads this script only on a port whose /ws/ reaches an ASGI server; ?room=NAME picks the room.
(function () {
  "use strict";
  const section = document.getElementById("chat");
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  const form = document.getElementById("send");
  const input = document.getElementById("message");
  const closeCodes = JSON.parse(document.getElementById("close-codes").textContent);
  const room = new URLSearchParams(location.search).get("room") || section.dataset.room;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/ws/chat/${encodeURIComponent(room)}/`;
  const firstDelay = 500;
  const maxDelay = 10000;
  let socket;
  let retryDelay = firstDelay;

  function show(text, kind) {
    const item = document.createElement("li");
    item.textContent = text;  // never innerHTML: messages come from other people
    if (kind) item.className = kind;
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  // Daphne cannot send 1001-2999 and sends the same meaning as 4000 + (code - 1000).
  function meaning(code) {
    const standard = code >= 4000 && code < 5000 ? code - 3000 : code;
    return closeCodes[standard] || "closed";
  }

  function connect() {
    status.textContent = "connecting…";
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      status.textContent = `connected to room ${room} through ${section.dataset.websocket}`;
      retryDelay = firstDelay;
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "chat") {
        const latency = Math.max(0, Date.now() / 1000 - data.sent_at) * 1000;
        show(`${data.message} (via ${data.server}, ${latency.toFixed(0)} ms)`);
      } else if (data.type === "error") {
        show(`error: ${data.error}`, "error");
      }
    });
    socket.addEventListener("close", (event) => {
      const reason = event.reason ? `: ${event.reason}` : "";
      const why = `disconnected, ${meaning(event.code)} (${event.code}${reason})`;
      status.textContent = `${why}; reconnecting in ${(retryDelay / 1000).toFixed(1)} s`;
      show(why, "error");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, maxDelay);
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (socket.readyState !== WebSocket.OPEN || !input.value) return;
    socket.send(JSON.stringify({ message: input.value, sent_at: Date.now() / 1000 }));
    input.value = "";
  });

  connect();
})();
