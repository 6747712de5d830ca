// Ringback pages: what the agent desk and the supervisor board share.
// The token lives in this tab's sessionStorage and goes only in the Authorization header.
"use strict";

const RB = (() => {
  const KEY = "ringback.token";
  let user = null;
  const signedOutHandlers = [];

  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.message ? body.message : `HTTP ${status}`);
      this.status = status;
      this.code = body && body.code;
      this.field = body && body.field;
    }
  }

  function token() { return sessionStorage.getItem(KEY); }

  async function api(method, path, body, options = {}) {
    const headers = { Authorization: `Bearer ${token()}` };
    let payload;
    if (body instanceof FormData || body instanceof Blob) payload = body;
    else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    const reply = await fetch(path, { method, headers, body: payload, signal: options.signal });
    if (reply.status === 401) { signOut("Your token was refused: sign in again."); throw new ApiError(401, null); }
    if (!reply.ok) {
      let detail = null;
      try { detail = await reply.json(); } catch { /* not JSON */ }
      throw new ApiError(reply.status, detail);
    }
    if (options.raw) return reply;
    return reply.status === 204 ? null : reply.json();
  }
  const get = (path) => api("GET", path);

  // Server-sent events over fetch (EventSource cannot send a header); reconnects with
  // backoff and calls onOpen each time it is (re)connected, so that the page can resync.
  function stream(path, handlers, onOpen, onClosed) {
    const controller = new AbortController();
    let wait = 500;
    async function run() {
      while (!controller.signal.aborted) {
        try {
          const reply = await fetch(path, {
            headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" },
            signal: controller.signal,
          });
          if (reply.status === 401) { signOut("Your token was refused: sign in again."); return; }
          if (!reply.ok || !reply.body) throw new Error(`HTTP ${reply.status}`);
          wait = 500;
          if (onOpen) onOpen();
          const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              dispatch(block, handlers);
            }
          }
        } catch (err) {
          if (controller.signal.aborted) return;
        }
        if (onClosed) onClosed();
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 8000);
      }
    }
    run();
    return () => controller.abort();
  }

  function dispatch(block, handlers) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (!data.length || !handlers[name]) return;
    try { handlers[name](JSON.parse(data.join("\n"))); } catch (err) { console.error(name, err); }
  }

  // Elements from data, never from HTML strings: what the API says is shown as text.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      // Through the CSSOM: a style attribute would be refused by the page's CSP.
      else if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

  function duration(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return `${h ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–");
  const percent = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);
  const words = (s) => String(s || "").replaceAll("_", " ");

  function notify(message, bad = false) {
    const box = $("#notice");
    const line = el("p", { class: bad ? "bad" : "", text: message });
    box.append(line);
    setTimeout(() => line.remove(), bad ? 8000 : 4000);
  }

  // An API refusal shown by the field it names ("a,b" names several), else on the form.
  function showError(form, err) {
    clearErrors(form);
    if (!(err instanceof ApiError)) { notify(String(err), true); return; }
    const names = (err.field || "").split(",").filter(Boolean);
    let shown = false;
    for (const name of names) {
      for (const input of $$(`[data-field="${CSS.escape(name)}"]`, form)) input.setAttribute("aria-invalid", "true");
      const target = findErrorSlot(form, name);
      if (target) { target.textContent = err.message; shown = true; }
    }
    if (!shown) {
      const general = $('[data-error=""]', form);
      if (general) general.textContent = err.message; else notify(err.message, true);
    }
    const first = $("[aria-invalid=true]", form);
    if (first) first.focus();
  }
  function findErrorSlot(form, name) {
    // "callback.due_at" may be shown by "callback.due_at", then "callback".
    const parts = name.split(".");
    while (parts.length) {
      const slot = $(`[data-error="${CSS.escape(parts.join("."))}"]`, form);
      if (slot) return slot;
      parts.pop();
    }
    return null;
  }
  function clearErrors(form) {
    for (const slot of $$("[data-error]", form)) slot.textContent = "";
    for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
  }

  async function download(path, filename) {
    const reply = await api("GET", path, undefined, { raw: true });
    const url = URL.createObjectURL(await reply.blob());
    const link = el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function saveText(text, filename, type = "text/csv") {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function csvLine(values) {
    return values.map((v) => {
      const s = v === null || v === undefined ? "" : String(v);
      return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    }).join(",") + "\r\n";
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    user = null;
    for (const handler of signedOutHandlers) handler();
    $("#app").hidden = true;
    $("#who").hidden = true;
    $("#sign-in").hidden = false;
    if (message) $("#token-error").textContent = message;
    $("#token").focus();
  }

  // Sign in with a token; ``start(user)`` builds the page, ``allowed(user)`` may refuse.
  function boot({ start, allowed, beforeSignOut, onSignedOut }) {
    if (onSignedOut) signedOutHandlers.push(onSignedOut);
    const form = $("#sign-in-form");
    async function enter() {
      try {
        const me = await get("/users/me");
        const refusal = allowed ? allowed(me) : null;
        if (refusal) { signOut(refusal); return; }
        user = me;
        $("#who-name").textContent = `${me.name || me.username} (${me.role})`;
        $("#who").hidden = false;
        $("#sign-in").hidden = true;
        $("#app").hidden = false;
        $("#token-error").textContent = "";
        await start(me);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) signOut(err.message || String(err));
      }
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("#token").value.trim();
      if (!value) { $("#token-error").textContent = "Type your token."; return; }
      sessionStorage.setItem(KEY, value);
      $("#token").value = "";
      enter();
    });
    $("#sign-out").addEventListener("click", async () => {
      if (beforeSignOut) { try { await beforeSignOut(); } catch { /* signing out anyway */ } }
      signOut("");
    });
    if (token()) enter(); else signOut("");
  }

  // A field the user changes is no longer the one blamed.
  document.addEventListener("input", (event) => {
    const field = event.target.closest("[aria-invalid]");
    if (!field) return;
    field.removeAttribute("aria-invalid");
    const name = field.dataset.field;
    const form = field.closest("form");
    if (name && form) for (const slot of $$(`[data-error="${CSS.escape(name)}"]`, form)) slot.textContent = "";
  });

  function everySecond(fn) { fn(); return setInterval(fn, 1000); }

  return {
    ApiError, api, get, stream, el, $, $$, duration, when, percent, words, notify,
    showError, clearErrors, download, saveText, csvLine, boot, everySecond,
    get user() { return user; },
  };
})();
