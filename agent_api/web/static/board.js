// The supervisor board: the floor live, campaigns with their figures, uploads, follow-up
// queues, callbacks and registration statistics.
"use strict";

(() => {
  const { api, get, el, $, $$, duration, when, percent, words, notify, showError, clearErrors } = RB;
  const page = { agents: new Map(), campaigns: [], stop: null, ticker: null, refused: [] };
  const STATE_COLORS = { pending: "#8aa4c8", dialing: "#1f5fbf", retry: "#e0a030", completed: "#1e7d43", exhausted: "#8a8f98", invalid: "#b3261e", dnc: "#5a2d82" };

  RB.boot({
    start,
    allowed: (me) => (me.role === "manager" || me.role === "admin" ? null : "The board is for managers and administrators."),
    onSignedOut: () => { if (page.stop) page.stop(); page.stop = null; clearInterval(page.ticker); },
  });

  async function start() {
    wire();
    page.ticker = RB.everySecond(tick);
    await resync();
    page.stop = RB.stream("/floor/events", handlers, () => { $("#live").classList.add("on"); resync(); }, () => $("#live").classList.remove("on"));
  }

  async function resync() {
    await loadCampaigns(); // agents' rows name their campaigns
    await loadAgents();
    await Promise.all([loadAbandon(), loadQueues(), loadCallbacks(), loadRegistrations()]);
  }

  // Calls to refresh a part at most once per ``ms`` however many events ask for it.
  function throttled(fn, ms) {
    let timer = null, again = false;
    return () => {
      if (timer) { again = true; return; }
      fn();
      timer = setTimeout(() => { timer = null; if (again) { again = false; fn(); } }, ms);
    };
  }
  const refreshCampaigns = throttled(() => loadCampaignStats(), 1000);
  const refreshAbandon = throttled(() => loadAbandon(), 5000);
  const refreshCallbacks = throttled(() => loadCallbacks(), 2000);
  const refreshRegistrations = throttled(() => loadRegistrations(), 3000);
  const refreshQueues = throttled(() => loadQueues(), 3000);

  const handlers = {
    agent_state: (data) => {
      const agent = page.agents.get(data.agent_id);
      if (!agent) { loadAgents(); return; }
      agent.state = data.state;
      agent.reason = data.reason;
      agent.since = Date.now();
      renderAgent(agent, true);
    },
    call_offered: () => refreshCampaigns(),
    call_outcome: () => { refreshCampaigns(); refreshAbandon(); },
    campaign_progress: () => refreshCampaigns(),
    wrapped_up: () => { refreshRegistrations(); refreshQueues(); refreshCampaigns(); },
    callback_booked: () => refreshCallbacks(),
    callback_due: () => refreshCallbacks(),
  };

  let wired = false;
  function wire() {
    if (wired) return;
    wired = true;
    $("#abandon-campaign").addEventListener("change", loadAbandon);
    $("#abandon-hours").addEventListener("change", loadAbandon);
    $("#upload").addEventListener("submit", upload);
    $("#callback-filter").addEventListener("submit", (e) => { e.preventDefault(); loadCallbacks(); });
    $("#reg-filter").addEventListener("submit", (e) => { e.preventDefault(); loadRegistrations(); });
    $("#reg-csv").addEventListener("click", async () => {
      try { await RB.download(registrationsPath("csv"), "registrations.csv"); } catch (err) { showError($("#reg-filter"), err); }
    });
  }

  function tick() {
    for (const agent of page.agents.values()) {
      const cell = $(`#agent-${agent.id} .since`);
      if (cell) cell.textContent = agent.since ? duration((Date.now() - agent.since) / 1000) : "–";
    }
  }

  // Agents

  async function loadAgents() {
    const agents = await get("/agents");
    page.agents = new Map(agents.map((a) => [a.id, { ...a, since: a.seconds_in_state === null ? null : Date.now() - a.seconds_in_state * 1000 }]));
    $("#agents").replaceChildren(...[...page.agents.values()].map((a) => agentRow(a)));
    fillSelect($("#reg-agent"), agentOptions(), "all");
    tick();
  }

  function agentOptions() {
    return [...page.agents.values()].filter((a) => a.role === "agent").map((a) => [a.id, a.name || a.username]);
  }

  // Options [value, label] in ``select``, with a first "all" option when named; the
  // choice made is kept when it is still offered.
  function fillSelect(select, options, all = null) {
    const keep = select.value;
    select.replaceChildren(...(all ? [el("option", { value: "", text: all })] : []),
      ...options.map(([value, label]) => el("option", { value, text: label })));
    if (keep && options.some(([value]) => String(value) === keep)) select.value = keep;
  }

  function agentRow(a) {
    return el("tr", { id: `agent-${a.id}`, dataset: { agent: a.username } },
      el("td", {}, a.name || a.username, el("div", { class: "hint", text: a.username })),
      el("td", {}, el("span", { class: "badge state", dataset: { state: a.state }, text: words(a.state) }), a.reason ? el("div", { class: "hint", text: a.reason }) : ""),
      el("td", { class: "since num" }),
      el("td", { text: a.follows_running ? "all running" : a.campaigns.map(campaignName).join(", ") || "–" }));
  }

  function renderAgent(a, flash) {
    const row = agentRow(a);
    if (flash) row.classList.add("flash");
    const old = $(`#agent-${a.id}`);
    if (old) old.replaceWith(row); else $("#agents").append(row);
    tick();
  }

  // Campaigns

  function campaignName(id) {
    const c = page.campaigns.find((x) => x.id === id);
    return c ? c.name : `#${id}`;
  }

  async function loadCampaigns() {
    page.campaigns = await get("/campaigns");
    const options = (campaigns) => campaigns.map((c) => [c.id, c.name]);
    fillSelect($("#upload-campaign"), options(page.campaigns.filter((c) => c.state !== "finished")));
    fillSelect($("#reg-campaign"), options(page.campaigns), "all");
    const abandon = $("#abandon-campaign");
    const chosen = abandon.value;
    fillSelect(abandon, options(page.campaigns));
    const running = page.campaigns.find((c) => c.state === "running");
    if (!chosen && running) abandon.value = running.id;
    await loadCampaignStats();
  }

  async function loadCampaignStats() {
    const shown = page.campaigns.filter((c) => c.state !== "finished");
    const stats = await Promise.all(shown.map((c) => get(`/campaigns/${c.id}/stats`)));
    $("#campaigns").replaceChildren(...shown.map((c, n) => campaignBlock(c, stats[n])));
    if (!shown.length) $("#campaigns").append(el("p", { class: "muted", text: "No campaign yet: create one with the API or `ringback campaign apply`." }));
  }

  function campaignBlock(c, s) {
    const total = Object.values(s.contacts_by_state).reduce((a, b) => a + b, 0);
    const cap = c.spec.dialing.abandon_rate_cap;
    const over = s.abandon_rate !== null && s.abandon_rate > cap;
    const buttons = [];
    if (c.state === "draft") buttons.push(stateButton(c, "running", "Start"));
    if (c.state === "running") buttons.push(stateButton(c, "paused", "Pause"));
    if (c.state === "paused") buttons.push(stateButton(c, "running", "Resume"));
    const done = (s.contacts_by_state.completed || 0) + (s.contacts_by_state.exhausted || 0) + (s.contacts_by_state.invalid || 0) + (s.contacts_by_state.dnc || 0);
    return el("article", { class: "campaign", dataset: { campaign: c.name }, "aria-label": `Campaign ${c.name}` },
      el("header", {}, el("strong", { text: c.name }), el("span", { class: "badge", dataset: { state: c.state === "running" ? "ready" : c.state === "paused" ? "paused" : "logged_out" }, text: c.state }),
        el("span", { class: "muted", text: c.spec.dialing.mode }), ...buttons),
      el("div", { class: "bar", role: "img", "aria-label": `contacts: ${Object.entries(s.contacts_by_state).map(([k, v]) => `${v} ${k}`).join(", ")}` },
        ...Object.entries(s.contacts_by_state).map(([state, n]) => el("span", { style: `width:${(100 * n) / Math.max(1, total)}%;background:${STATE_COLORS[state] || "#999"}`, title: `${words(state)}: ${n}` }))),
      el("div", { class: "legend" }, ...Object.entries(s.contacts_by_state).map(([state, n]) => el("span", {}, el("i", { style: `background:${STATE_COLORS[state] || "#999"}` }), `${words(state)} ${n}`))),
      el("div", { class: "figures" },
        el("span", {}, "contacts done ", el("b", { class: "done", text: `${done}/${total}` })),
        el("span", {}, "calls in progress ", el("b", { class: "open", text: s.attempts_open })),
        el("span", {}, "handled ", el("b", { class: "handled", text: s.calls_handled })),
        el("span", {}, "avg talk ", el("b", { text: duration(s.average_talk_seconds) })),
        el("span", {}, "avg wrap-up ", el("b", { text: duration(s.average_wrapup_seconds) })),
        el("span", { class: over ? "warning" : "" }, "abandoned ", el("b", { class: "abandon", text: percent(s.abandon_rate) }), ` (cap ${percent(cap)})`)),
      el("div", { class: "legend attempts" }, "attempts: ", ...Object.entries(s.attempts_by_outcome).map(([o, n]) => el("span", { dataset: { outcome: o } }, `${words(o)} ${n}`))));
  }

  function stateButton(c, state, label) {
    return el("button", { type: "button", class: "small", text: label, "aria-label": `${label} ${c.name}`, onclick: async () => {
      try { await api("POST", `/campaigns/${c.id}/state`, { state }); notify(`${c.name}: ${state}`); await loadCampaigns(); }
      catch (err) { notify(err.message, true); }
    } });
  }

  // The abandon rate over time

  async function loadAbandon() {
    const id = $("#abandon-campaign").value;
    const box = $("#abandon-chart");
    if (!id) { box.replaceChildren(el("p", { class: "muted", text: "No campaign." })); return; }
    const hours = Number($("#abandon-hours").value);
    const bucket = hours <= 1 ? 2 : hours <= 8 ? 15 : 60;
    const series = await get(`/campaigns/${id}/abandon-rate?hours=${hours}&bucket_minutes=${bucket}`);
    const points = (key) => series.buckets.map((b) => [new Date(new Date(b.start).getTime() + bucket * 30000), b[key]]);
    const last = [...series.buckets].reverse().find((b) => b.running_rate !== null);
    Charts.rateLine(box, {
      title: `Abandon rate of ${campaignName(Number(id))}, last ${hours} h`,
      summary: last ? `Running rate ${percent(last.running_rate)} against a cap of ${percent(series.cap)}.` : "No answered calls in this period.",
      series: [
        { name: `per ${bucket} min`, color: "#8aa4c8", points: points("rate"), width: 1.5, dots: true },
        { name: "running", color: "#1f5fbf", points: points("running_rate"), width: 2.5 },
      ],
      limit: { y: series.cap, label: `cap ${percent(series.cap)}` },
    });
  }

  // Contact upload, with progress and the refused rows

  function upload(event) {
    event.preventDefault();
    const form = $("#upload");
    clearErrors(form);
    const file = $("#upload-file").files[0];
    const campaign = $("#upload-campaign").value;
    if (!file || !campaign) { showError(form, new RB.ApiError(422, { message: "Choose a campaign and a file.", field: "" })); return; }
    const data = new FormData();
    data.append("file", file);
    const region = $("#upload-region").value.trim().toUpperCase();
    const xhr = new XMLHttpRequest();
    const bar = $("#upload-progress");
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; });
    xhr.addEventListener("load", () => {
      bar.value = 100;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 200) { showUpload(body); loadCampaignStats(); }
      else showError(form, new RB.ApiError(xhr.status, body));
    });
    xhr.addEventListener("error", () => showError(form, new RB.ApiError(0, { message: "The upload failed: no answer from the server." })));
    xhr.open("POST", `/campaigns/${campaign}/contacts${region ? `?region=${encodeURIComponent(region)}` : ""}`);
    xhr.setRequestHeader("Authorization", `Bearer ${sessionStorage.getItem("ringback.token")}`);
    xhr.send(data);
  }

  function showUpload(r) {
    page.refused = r.refused_rows;
    const refusedCount = Object.values(r.refused).reduce((a, b) => a + b, 0);
    const button = el("button", { type: "button", text: "Download refused rows (CSV)", onclick: () =>
      RB.saveText(RB.csvLine(["line", "phone", "reason"]) + page.refused.map((x) => RB.csvLine([x.line, x.phone, x.reason])).join(""), "refused.csv") });
    $("#upload-result").replaceChildren(
      el("p", {}, el("b", { text: r.imported }), " imported, ", el("b", { text: r.merged }), " merged, ", el("b", { class: "refused-count", text: refusedCount }), ` refused of ${r.lines} lines.`),
      refusedCount ? el("p", { class: "hint", text: Object.entries(r.refused).map(([k, v]) => `${words(k)}: ${v}`).join(" · ") }) : "",
      r.refused_rows.length ? el("table", { class: "list refused" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Line" }), el("th", { scope: "col", text: "Value" }), el("th", { scope: "col", text: "Reason" }))),
        el("tbody", {}, ...r.refused_rows.map((x) => el("tr", {}, el("td", { text: x.line }), el("td", { text: x.phone }), el("td", { text: x.reason }))))) : "",
      r.refused_rows.length ? button : "",
      r.refused_rows.length < refusedCount ? el("p", { class: "hint", text: `The first ${r.refused_rows.length} refused rows are shown.` }) : "");
  }

  // Follow-up queues

  async function loadQueues() {
    const queues = await get("/followups/queues");
    $("#queues").replaceChildren(...queues.map((q) => el("tr", {},
      el("td", {}, el("button", { type: "button", class: "link", text: q.queue, onclick: () => loadFollowups(q.queue) })),
      el("td", { class: "num", text: q.open }), el("td", { class: "num", text: q.taken }),
      el("td", { text: q.oldest_age_seconds === null ? "–" : duration(q.oldest_age_seconds) }))));
    if (!queues.length) $("#queues").append(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "No open requests." })));
  }

  async function loadFollowups(queue) {
    const items = await get(`/followups?queue=${encodeURIComponent(queue)}`);
    $("#followups").replaceChildren(el("h3", { text: `Queue ${queue}` }), el("ul", { class: "registrations" }, ...items.map((f) => {
      const note = el("input", { type: "text", "aria-label": `Note on request ${f.id}`, maxlength: 4000 });
      const act = (path, body) => async () => {
        try { await api("POST", `/followups/${f.id}/${path}`, body && body()); await loadFollowups(queue); await loadQueues(); }
        catch (err) { notify(err.message, true); }
      };
      return el("li", {},
        el("strong", { text: `${f.reason || "no reason"} · ${f.phone}` }), ` ${f.description || ""} · ${duration(f.age_seconds)} old`,
        f.taken_by_name ? el("span", { class: "hint", text: ` · taken by ${f.taken_by_name}` }) : "",
        el("div", { class: "inline-form" }, note,
          el("button", { type: "button", class: "small", text: "Add note", onclick: act("notes", () => ({ text: note.value })) }),
          f.taken_by ? "" : el("button", { type: "button", class: "small", text: "Take", onclick: act("take") }),
          el("button", { type: "button", class: "small", text: "Close", onclick: act("close", () => ({ note: note.value })) })));
    })));
  }

  // Callbacks

  async function loadCallbacks() {
    const state = $("#cb-state").value;
    const page_ = await get(`/callbacks?limit=200${state ? `&state=${state}` : ""}`);
    $("#callbacks").replaceChildren(...page_.callbacks.map((cb) => {
      const owner = el("select", { "aria-label": `Owner of callback ${cb.id}`, disabled: cb.state === "done" || cb.state === "cancelled" });
      fillSelect(owner, agentOptions(), "all agents");
      owner.value = cb.owner_id === null ? "" : String(cb.owner_id);
      owner.addEventListener("change", async () => {
        try {
          await api("PUT", `/callbacks/${cb.id}/owner`, { owner_id: owner.value ? Number(owner.value) : null });
          notify(`Callback ${cb.id} reassigned.`);
          await loadCallbacks();
        } catch (err) { notify(err.message, true); await loadCallbacks(); }
      });
      return el("tr", { dataset: { callback: cb.id } }, el("td", { text: cb.id }), el("td", {}, when(cb.due_at), cb.reserved_until ? el("div", { class: "hint", text: `reserved until ${when(cb.reserved_until)}` }) : ""),
        el("td", { text: campaignName(cb.campaign_id) }), el("td", { text: cb.contact_id }), el("td", { text: cb.comment }),
        el("td", {}, el("span", { class: "badge", text: cb.state })), el("td", {}, owner));
    }));
    if (!page_.callbacks.length) $("#callbacks").append(el("tr", {}, el("td", { colspan: 7, class: "muted", text: "No callbacks." })));
  }

  // Registrations by category and topic

  function registrationsPath(format) {
    const q = new URLSearchParams({ format });
    if ($("#reg-campaign").value) q.set("campaign_id", $("#reg-campaign").value);
    if ($("#reg-agent").value) q.set("agent_id", $("#reg-agent").value);
    if ($("#reg-since").value) q.set("since", new Date(`${$("#reg-since").value}T00:00`).toISOString());
    if ($("#reg-until").value) q.set("until", new Date(`${$("#reg-until").value}T00:00`).toISOString());
    if ($("#reg-by-agent").checked) q.set("by_agent", "true");
    return `/stats/registrations?${q}`;
  }

  async function loadRegistrations() {
    const form = $("#reg-filter");
    clearErrors(form);
    let rows;
    try { rows = await get(registrationsPath("json")); } catch (err) { showError(form, err); return; }
    const name = (id) => { const a = page.agents.get(id); return a ? a.name || a.username : id === null ? "" : `#${id}`; };
    $("#registrations").replaceChildren(...rows.map((r) => el("tr", {},
      el("td", { text: r.category || "(no topic)" }), el("td", { text: r.topic || "–" }), el("td", { text: name(r.agent_id) || "all" }), el("td", { class: "num", text: r.count }))));
    const byTopic = new Map();
    for (const r of rows) {
      const key = r.topic ? `${r.category}: ${r.topic}` : "(no topic)";
      byTopic.set(key, (byTopic.get(key) || 0) + r.count);
    }
    const items = [...byTopic.entries()].map(([label, value]) => ({ label, value })).sort((a, b) => b.value - a.value);
    Charts.bars($("#reg-chart"), {
      title: "Registrations by topic",
      summary: items.map((i) => `${i.label} ${i.value}`).join(", ") || "No registrations in this period.",
      items,
    });
  }
})();
