// The chat demo: one WebSocket to /ws/chat/<room>/ on whichever port served this page.
(function () {
  "use strict";
  const section = document.getElementById("chat");
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  const form = document.getElementById("send");
  const input = document.getElementById("message");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/ws/chat/${section.dataset.room}/`;
  let socket;
  let retryDelay = 500;

  function show(text, kind) {
    const item = document.createElement("li");
    item.textContent = text;  // never innerHTML: messages come from other people
    if (kind) item.className = kind;
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function connect() {
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      status.textContent = "connected";
      retryDelay = 500;
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "chat") {
        const latency = Math.max(0, Date.now() / 1000 - data.sent_at) * 1000;
        show(`[${data.server}] ${data.message} (${latency.toFixed(0)} ms)`);
      } else if (data.type === "error") {
        show(`error: ${data.error}`, "error");
      }
    });
    socket.addEventListener("close", (event) => {
      status.textContent = `disconnected (${event.code}${event.reason ? ": " + event.reason : ""}), retrying…`;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
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
