// The agent desk: state, the current call, wrap-up, scheduled calls and cases.
"use strict";

(() => {
  const { api, get, el, $, $$, duration, when, words, notify, showError, clearErrors } = RB;
  const page = {
    state: null, stateSince: null, call: null, timer: null, endReasons: [], endReasonsFor: null,
    caseTypes: [], stop: null, ticker: null, callbackComments: {},
  };

  RB.boot({
    start,
    allowed: (me) => (me.role === "agent" || me.role === "manager" || me.role === "admin" ? null : "This page is for agents."),
    beforeSignOut: () => api("PUT", "/agents/me/state", { state: "logged_out" }),
    onSignedOut: () => { if (page.stop) page.stop(); page.stop = null; clearInterval(page.ticker); },
  });

  async function start() {
    wire();
    page.ticker = RB.everySecond(tick);
    await Promise.all([loadCampaigns(), loadState(), loadCaseTypes()]);
    await Promise.all([resumeCall(), loadScheduled(), loadCases()]);
    page.stop = RB.stream("/agents/me/events", handlers, resync);
  }

  let wired = false;
  function wire() {
    if (wired) return;
    wired = true;
    $("#ready").addEventListener("click", goReady);
    $("#pause").addEventListener("click", () => setState({ state: "paused", reason: $("#pause-reason").value || null }));
    $("#log-out").addEventListener("click", () => setState({ state: "logged_out" }));
    $("#hang-up").addEventListener("click", hangUp);
    $("#extend").addEventListener("click", extend);
    $("#wrapup-form").addEventListener("submit", register);
    $("#end-reason").addEventListener("change", () => {
      const reason = page.endReasons.find((r) => String(r.id) === $("#end-reason").value);
      $("#close-request").checked = reason ? reason.close_by_default : false;
      $("#end-reason").title = reason ? reason.description : "";
    });
    for (const radio of $$('input[name="feedback"]')) {
      radio.addEventListener("change", () => { $("#callback-fields").hidden = feedback() !== "callback"; });
    }
    $("#case-type").addEventListener("change", caseFields);
    $("#new-case").addEventListener("submit", createCase);
    $("#find-case").addEventListener("submit", findCase);
    $("#preview-next").addEventListener("click", previewNext);
    $("#preview-dial").addEventListener("click", () => previewAct("dial"));
    $("#preview-skip").addEventListener("click", () => previewAct("skip"));
    $("#inbound").addEventListener("submit", recordInbound);
  }

  const handlers = {
    state: (data) => { page.state = { ...(page.state || {}), state: data.state, reason: data.reason }; page.stateSince = Date.now(); renderState(); if (data.state !== "logged_out") loadState(); },
    call_offered: (data) => {
      if (data.callback_comment) page.callbackComments[data.interaction_id] = data.callback_comment;
      notify(`Call: ${data.phone}`);
      loadCampaigns().then(() => loadCall(data.interaction_id));
    },
    // The wrap-up is written by now: ready may have become blocked.
    wrapup_countdown: (data) => { loadCall(data.interaction_id); loadState(); },
    wrapped_up: (data) => {
      if (page.call && page.call.interaction.id === data.interaction_id) {
        if (data.automatic) notify("Wrapped up automatically.");
        page.call = null;
        renderCall();
      }
      loadState();
      loadScheduled();
    },
    callback_booked: () => loadScheduled(),
    callback_due: (data) => { notify(`A callback is due: ${data.comment || "no comment"}`); loadScheduled(); },
    call_failed: (data) => notify(`A call did not reach your phone: ${words(data.reason)}`, true),
    case_changed: () => loadCases(),
  };

  async function resync() { await Promise.all([loadState(), resumeCall(), loadScheduled()]); }

  // State

  async function loadCampaigns() {
    const campaigns = await get("/agents/me/campaigns");
    page.campaignNames = Object.fromEntries(campaigns.map((c) => [c.id, c.name]));
    const list = $("#campaign-list");
    const ticked = new Set($$('input[name="campaign"]:checked').map((b) => b.value));
    list.replaceChildren(...campaigns.map((c) => el("label", {},
      el("input", { type: "checkbox", value: c.id, name: "campaign", checked: ticked.has(String(c.id)) }),
      `${c.name}`, el("span", { class: "muted", text: ` ${c.mode}${c.state === "running" ? "" : c.state === "draft" ? ", not started" : ", paused"}` }))));
    if (!campaigns.length) list.append(el("p", { class: "muted", text: "No campaign is running." }));
    const previews = campaigns.filter((c) => c.mode === "preview" && c.state === "running");
    $("#preview-box").hidden = !previews.length;
    const keep = $("#preview-campaign").value;
    $("#preview-campaign").replaceChildren(...previews.map((c) => el("option", { value: c.id, text: c.name })));
    if (keep) $("#preview-campaign").value = keep;
  }

  // Preview: read the next contact, then call or skip it.

  async function previewNext() {
    try {
      const reply = await api("POST", `/agents/me/preview?campaign_id=${$("#preview-campaign").value}`, undefined, { raw: true });
      if (reply.status === 204) { notify("No contact is due in this campaign."); return; }
      const contact = await reply.json();
      page.previewing = contact.id;
      $("#preview-card").replaceChildren(...contactCard(contact));
      $("#preview-contact").hidden = false;
      $("#preview-dial").focus();
    } catch (err) { notify(err.message, true); }
  }

  async function previewAct(action) {
    if (!page.previewing) return;
    try {
      await api("POST", `/agents/me/preview/${page.previewing}/${action}`);
      if (action === "dial") notify("Calling: your phone rings first.");
      page.previewing = null;
      $("#preview-contact").hidden = true;
    } catch (err) { notify(err.message, true); }
  }

  async function recordInbound(event) {
    event.preventDefault();
    const form = $("#inbound");
    clearErrors(form);
    try {
      const created = await api("POST", "/agents/me/interactions", { phone: $("#inbound-phone").value.trim(), direction: "inbound" });
      form.reset();
      $("#inbound-box").open = false;
      await loadCall(created.id);
    } catch (err) { showError(form, err); }
  }

  async function loadState() {
    const state = await get("/agents/me/state");
    page.state = state;
    page.stateSince = state.seconds_in_state === null ? Date.now() : Date.now() - state.seconds_in_state * 1000;
    if (state.state !== "logged_out") {
      // Logged in: the boxes show the campaigns taken; logged out they are the agent's choice.
      const chosen = new Set(state.all_running ? [] : state.campaigns.map(String));
      for (const box of $$('input[name="campaign"]')) box.checked = chosen.has(box.value);
    }
    renderState();
  }

  function renderState() {
    const s = page.state;
    if (!s) return;
    const badge = $("#state");
    badge.dataset.state = s.state;
    badge.textContent = words(s.state);
    $("#state-reason").textContent = s.reason ? `(${s.reason})` : "";
    const blocked = s.may_become_ready === false;
    $("#ready").disabled = blocked || s.state === "ready" || s.state === "on_call" || s.state === "reserved";
    $("#ready-blocked").hidden = !blocked;
    $("#log-out").disabled = s.state === "logged_out";
    tick();
  }

  async function goReady() {
    const campaigns = $$('input[name="campaign"]:checked').map((b) => Number(b.value));
    await setState(campaigns.length ? { state: "ready", campaigns } : { state: "ready" });
  }

  async function setState(body) {
    try {
      page.state = await api("PUT", "/agents/me/state", body);
      page.stateSince = Date.now() - (page.state.seconds_in_state || 0) * 1000;
      renderState();
    } catch (err) {
      if (err.code === "wrapup.registration_required") { $("#ready-blocked").hidden = false; $("#ready").disabled = true; }
      notify(err.message, true);
    }
  }

  function tick() {
    if (page.stateSince) $("#state-time").textContent = duration((Date.now() - page.stateSince) / 1000);
    const t = page.timer;
    if (t) {
      const gone = (Date.now() - t.at) / 1000;
      $("#elapsed").textContent = duration(t.elapsed + gone);
      $("#countdown").textContent = t.remaining === null ? "–" : duration(t.remaining - gone);
    }
  }

  // The call

  async function resumeCall() {
    const mine = await get("/agents/me/interactions");
    const open = mine.find((i) => !i.wrapped_up_at);
    if (open) await loadCall(open.id);
    else if (page.call) { page.call = null; renderCall(); }
  }

  async function loadCall(id) {
    page.call = await get(`/interactions/${id}`);
    const i = page.call.interaction;
    page.timer = i.timer ? { elapsed: i.timer.elapsed_seconds, remaining: i.timer.remaining_seconds, at: Date.now(), extended: i.timer.extended } : null;
    if (i.campaign_id !== null && page.endReasonsFor !== i.campaign_id) {
      page.endReasons = await get(`/end-reasons?campaign_id=${i.campaign_id}`);
      page.endReasonsFor = i.campaign_id;
    } else if (i.campaign_id === null && page.endReasonsFor !== "inbound") {
      page.endReasons = await get("/end-reasons");
      page.endReasonsFor = "inbound";
    }
    renderCall();
  }

  function renderCall() {
    const c = page.call;
    $("#no-call").hidden = Boolean(c);
    $("#call-body").hidden = !c;
    const ended = c && c.interaction.ended_at;
    $("#wrapup").hidden = !ended;
    if (!c) { page.timer = null; return; }
    const i = c.interaction;
    $("#call-phone").textContent = i.phone;
    $("#call-campaign").textContent = i.campaign_id === null ? "inbound" : (page.campaignNames || {})[i.campaign_id] || `campaign ${i.campaign_id}`;
    const callState = $("#call-state");
    callState.dataset.state = ended ? "wrapup" : "on_call";
    callState.textContent = ended ? "ended" : "connected";
    $("#hang-up").hidden = Boolean(ended);
    const comment = page.callbackComments[i.id] || lastCallbackComment(c);
    $("#callback-comment").hidden = !comment;
    $("#callback-comment").textContent = comment ? `Callback: ${comment}` : "";
    renderContact(c.contact);
    renderHistory(c.history);
    if (ended) renderWrapup(c);
    renderScripts();
  }

  function lastCallbackComment(c) {
    const last = c.history && c.history.registrations.find((r) => r.callback_due_at);
    return last ? last.callback_comment : null;
  }

  function renderContact(contact) {
    const list = $("#contact");
    if (!contact) { list.replaceChildren(el("dt", { text: "Contact" }), el("dd", { text: "not on a list" })); return; }
    list.replaceChildren(...contactCard(contact));
  }

  // A contact as terms and values: number, time zone, then the list's own columns.
  function contactCard(contact) {
    return terms([["Number", contact.phone], ["Time zone", contact.timezone], ...Object.entries(contact.attributes)]);
  }
  function terms(pairs) {
    return pairs.flatMap(([k, v]) => [el("dt", { text: words(k) }), el("dd", { text: v })]);
  }

  function renderHistory(history) {
    const attempts = history ? history.attempts : [];
    const regs = history ? history.registrations : [];
    $("#history-count").textContent = attempts.length;
    $("#history-attempts").replaceChildren(...attempts.map((a) => el("tr", {},
      el("td", { text: when(a.started_at) }), el("td", { text: words(a.outcome || "open") }))));
    $("#history-registrations").replaceChildren(...regs.map((r) => el("li", {},
      el("strong", { text: `${when(r.at)} ${r.agent}` }), ": ",
      [r.topics.join(", "), r.feedback ? words(r.feedback) : "", r.end_reason || "", r.comment].filter(Boolean).join(" · "),
      r.callback_due_at ? ` (callback ${when(r.callback_due_at)}${r.callback_comment ? ": " + r.callback_comment : ""})` : "")));
  }

  function renderScripts() {
    const c = page.call;
    if (!c) return;
    const chosen = new Set($$('#categories input:checked').map((b) => Number(b.value)));
    const topics = c.categories.flatMap((cat) => cat.topics);
    const shown = topics.filter((t) => t.script && (chosen.size ? chosen.has(t.id) : true));
    $("#scripts").replaceChildren(
      shown.length ? el("h3", { text: chosen.size ? "Script" : "Scripts" }) : "",
      ...shown.map((t) => el("blockquote", {}, el("strong", { text: `${t.name}: ` }), t.script)));
  }

  async function hangUp() {
    if (!page.call) return;
    try {
      await api("POST", `/interactions/${page.call.interaction.id}/end`);
      await loadCall(page.call.interaction.id);
    } catch (err) { notify(err.message, true); }
  }

  async function extend() {
    try {
      await api("POST", `/interactions/${page.call.interaction.id}/extend`);
      await loadCall(page.call.interaction.id);
    } catch (err) { notify(err.message, true); }
  }

  // Wrap-up

  let renderedFor = null;
  function renderWrapup(c) {
    const i = c.interaction;
    $("#extend").hidden = !(page.timer && page.timer.remaining !== null && !page.timer.extended);
    $("#countdown-box").hidden = !(page.timer && page.timer.remaining !== null);
    $("#feedback-box").hidden = i.campaign_id === null;
    if (renderedFor === i.id) return; // keep what the agent has typed
    renderedFor = i.id;
    const form = $("#wrapup-form");
    form.reset();
    clearErrors(form);
    $("#callback-fields").hidden = true;
    $("#categories").replaceChildren(...c.categories.map(category));
    for (const box of $$("#categories input")) box.addEventListener("change", renderScripts);
    $("#end-reason").replaceChildren(el("option", { value: "", text: "(none)" }),
      ...page.endReasons.map((r) => el("option", { value: r.id, text: r.name })));
    const soon = new Date(Date.now() + 60 * 60 * 1000);
    $("#callback-at").value = localInput(soon);
    $("#callback-at").min = localInput(new Date());
  }

  function category(cat) {
    const type = cat.multi_choice ? "checkbox" : "radio";
    const name = `category-${cat.id}`;
    return el("fieldset", { class: "category", "data-field": "topic_ids" },
      el("legend", {}, cat.name, cat.required ? el("span", { class: "hint", text: " (required)" }) : "",
        el("span", { class: "hint", text: cat.multi_choice ? " · any number" : " · one" })),
      ...(cat.multi_choice || cat.required ? [] : [el("label", {}, el("input", { type, name, value: "", checked: true }), "none")]),
      ...cat.topics.filter((t) => t.active).map((t) => el("label", {},
        el("input", { type, name, value: t.id, "aria-required": cat.required && !cat.multi_choice ? "true" : null }), t.name)));
  }

  function feedback() { const f = $('input[name="feedback"]:checked'); return f ? f.value : ""; }
  function localInput(date) {
    const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  }

  async function register(event) {
    event.preventDefault();
    const form = $("#wrapup-form");
    clearErrors(form);
    const c = page.call;
    if (!c) return;
    const body = {
      topic_ids: $$("#categories input:checked").map((b) => b.value).filter(Boolean).map(Number),
      comment: $("#comment").value,
    };
    const fb = feedback();
    if (fb) body.feedback = fb;
    if (fb === "callback") {
      const at = $("#callback-at").value;
      if (!at) { showError(form, new RB.ApiError(422, { message: "callback: choose a date and time", field: "callback.due_at" })); return; }
      body.callback = {
        due_at: new Date(at).toISOString(),
        comment: $("#callback-comment-in").value,
        for: $('input[name="callback-for"]:checked').value,
      };
    }
    if ($("#end-reason").value) {
      body.end_reason = { reason_id: Number($("#end-reason").value), close: $("#close-request").checked, description: $("#end-description").value };
    }
    try {
      await api("POST", `/interactions/${c.interaction.id}/registration`, body);
      notify(fb === "callback" ? "Registered; callback booked." : "Registered.");
      page.call = null;
      renderedFor = null;
      renderCall();
      await Promise.all([loadState(), loadScheduled()]);
      $("#ready").focus();
    } catch (err) { showError(form, err); }
  }

  // Scheduled calls

  async function loadScheduled() {
    const calls = await get("/agents/me/callbacks");
    $("#no-scheduled").hidden = calls.length > 0;
    $("#scheduled").replaceChildren(...calls.map((cb) => el("tr", { dataset: { callback: cb.id, state: cb.state } },
      el("td", {}, when(cb.due_at), cb.reserved_until ? el("div", { class: "hint", text: `reserved for you until ${when(cb.reserved_until)}` }) : ""),
      el("td", {}, cb.contact_name || "", el("div", { class: "hint", text: cb.phone })),
      el("td", { text: cb.comment }),
      el("td", {}, el("span", { class: "badge", text: cb.state === "due" ? (cb.owner_id === null ? "due, for all" : "due") : "booked" })))));
  }

  // Cases

  async function loadCaseTypes() {
    page.caseTypes = await get("/case-types");
    $("#case-type").replaceChildren(el("option", { value: "", text: "(choose)" }),
      ...page.caseTypes.map((t) => el("option", { value: t.id, text: `${t.name} → ${t.department}` })));
    caseFields();
  }

  function caseFields() {
    const type = page.caseTypes.find((t) => String(t.id) === $("#case-type").value);
    const own = type ? type.mandatory_fields.filter((f) => f !== "comments" && f !== "phone") : [];
    const needsPhone = type && type.mandatory_fields.includes("phone");
    const inputs = own.map((name) => [
      el("label", { for: `case-field-${name}`, text: `${words(name)} (required)` }),
      el("input", { id: `case-field-${name}`, type: "text", "data-field": name, "data-case-field": name, required: true, maxlength: 4000 }),
      el("p", { class: "error", "data-error": name, role: "alert" }),
    ]);
    if (needsPhone) inputs.push([
      el("label", { for: "case-phone", text: "phone (required)" }),
      el("input", { id: "case-phone", type: "text", "data-field": "phone", maxlength: 32 }),
      el("p", { class: "error", "data-error": "phone", role: "alert" }),
    ]);
    $("#case-fields").replaceChildren(...inputs.flat());
    $("#case-comments").previousElementSibling.textContent = type && type.mandatory_fields.includes("comments") ? "Comments (required)" : "Comments";
    $("#case-comments").dataset.field = "comments";
    $("#case-subject").dataset.field = "subject";
    $("#case-type").dataset.field = "type_id";
  }

  async function createCase(event) {
    event.preventDefault();
    const form = $("#new-case");
    const fields = {};
    for (const input of $$("[data-case-field]", form)) fields[input.dataset.caseField] = input.value;
    const body = {
      type_id: Number($("#case-type").value) || 0,
      subject: $("#case-subject").value,
      priority: $("#case-priority").value,
      comments: $("#case-comments").value,
      fields,
    };
    const phone = $("#case-phone");
    if (phone && phone.value) body.phone = phone.value;
    if ($("#case-from-call").checked && page.call) body.interaction_id = page.call.interaction.id;
    if (!body.type_id) { showError(form, new RB.ApiError(422, { message: "type_id: choose a case type", field: "type_id" })); return; }
    try {
      const created = await api("POST", "/cases", body);
      clearErrors(form);
      form.reset();
      caseFields();
      notify(`Case ${created.id} created.`);
      await loadCases();
      await showCase(created.id);
    } catch (err) { showError(form, err); }
  }

  async function loadCases() {
    const cases = await get("/agents/me/cases");
    const names = Object.fromEntries(page.caseTypes.map((t) => [t.id, t.name]));
    $("#cases").replaceChildren(...cases.map((k) => el("tr", {},
      el("td", {}, el("button", { type: "button", class: "link", text: `#${k.id}`, onclick: () => showCase(k.id) })),
      el("td", { text: k.subject }), el("td", { text: names[k.type_id] || k.type_id }),
      el("td", {}, el("span", { class: "badge", text: words(k.status) })))));
  }

  async function findCase(event) {
    event.preventDefault();
    const form = $("#find-case");
    clearErrors(form);
    const id = Number($("#case-id").value);
    if (!Number.isInteger(id) || id < 1) { showError(form, new RB.ApiError(422, { message: "case id: a whole number", field: "case_id" })); return; }
    try { await showCase(id); } catch (err) {
      showError(form, err.status === 404 ? new RB.ApiError(404, { message: `No case ${id} of yours.`, field: "case_id" }) : err);
    }
  }

  async function showCase(id) {
    const [k, log] = await Promise.all([get(`/cases/${id}`), get(`/cases/${id}/log`)]);
    const box = $("#case-detail");
    const closeForm = el("form", { class: "inline-form" },
      el("label", { for: "case-close-comment", text: "Closing comment" }),
      el("input", { id: "case-close-comment", type: "text", maxlength: 4000 }),
      el("button", { type: "submit", text: "Close case" }),
      el("p", { class: "error", "data-error": "", role: "alert" }));
    closeForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await api("POST", `/cases/${id}/close`, { comment: $("#case-close-comment").value }); await showCase(id); await loadCases(); }
      catch (err) { showError(closeForm, err); }
    });
    box.replaceChildren(
      el("h3", { text: `Case #${k.id}: ${k.subject}` }),
      el("p", {}, el("span", { class: "badge", text: words(k.status) }), ` ${k.priority} · ${k.department}`, k.taken_by ? ` · taken by ${k.taken_by}` : ""),
      k.comments ? el("p", { text: k.comments }) : "",
      el("dl", { class: "contact" }, ...terms(Object.entries(k.fields))),
      el("h3", { text: "Action log" }),
      el("ol", { class: "registrations" }, ...log.map((a) => el("li", { text: `${when(a.at)} ${a.actor}: ${words(a.action)}${a.detail && a.detail.comment ? " – " + a.detail.comment : ""}` }))),
      k.status === "closed" || k.status === "resolved" ? "" : closeForm);
    box.hidden = false;
  }
})();
