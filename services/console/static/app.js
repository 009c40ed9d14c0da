"use strict";
// Shotline console: a small hash-routed app over the console's JSON API. No build step.

const FEEDS = [["top_positive", "Top positive"], ["top_negative", "Top negative"],
               ["borderline", "Borderline"], ["random", "Random"]];
const state = {
  label: localStorage.getItem("shotline.label") || "",
  labels: new Map(),      // shot_id → "positive" | "negative" for the active label
  items: [],              // keyboard-navigable items on the page: {el, shot, update}
  sel: -1,
  timers: [],
  seenVersion: null,
};

// ---- helpers ----------------------------------------------------------------------------
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false)
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}
const secs = (ms) => (ms / 1000).toFixed(2) + " s";
const fmt = (x, d = 3) => (x === null || x === undefined ? "—" : Number(x).toFixed(d));
const enc = encodeURIComponent;

async function api(path, opts = {}) {
  let res;
  try {
    res = await fetch(path, { headers: opts.body && !(opts.body instanceof Blob) ? { "content-type": "application/json" } : {},
      ...opts, body: opts.body && !(opts.body instanceof Blob) ? JSON.stringify(opts.body) : opts.body });
  } catch (e) { throw new Error("the console cannot be reached: " + e.message); }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((data && data.error) || `${res.status} ${res.statusText}`);
    err.status = res.status; throw err;
  }
  return data;
}
function showError(e) { const a = document.getElementById("alert"); a.className = ""; a.textContent = e.message || String(e); a.hidden = false; }
function info(msg) { const a = document.getElementById("alert"); a.className = "info"; a.textContent = msg; a.hidden = false; }
function clearAlert() { document.getElementById("alert").hidden = true; }
function every(ms, fn) { const t = setInterval(fn, ms); state.timers.push(t); }
async function loaded(name) {
  // Every thumbnail decoded (or failed; at most 15 s): what the expert sees as "loaded".
  const settle = (i) => Promise.race([i.decode().catch(() => null), new Promise((r) => setTimeout(r, 15000))]);
  await Promise.all([...document.querySelectorAll("#view img")].map(settle));
  performance.mark(name + ":loaded");
  document.body.dataset.loaded = name;
}
function params() {
  const [path, qs] = location.hash.replace(/^#/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), q: new URLSearchParams(qs || "") };
}
function go(path, q) { location.hash = path + (q && [...q].length ? "?" + q.toString() : ""); }

// ---- active label ---------------------------------------------------------------------------
async function loadLabels() {
  const sel = document.getElementById("active-label");
  try {
    const { classifiers } = await api("/api/classifiers");
    const names = classifiers.map((c) => c.label);
    if (state.label && !names.includes(state.label)) names.push(state.label);
    sel.replaceChildren(h("option", { value: "" }, "— choose a label —"),
      ...names.sort().map((n) => h("option", { value: n, selected: n === state.label }, n)));
  } catch (e) { showError(e); }
}
async function setLabel(label) {
  state.label = label; localStorage.setItem("shotline.label", label);
  document.getElementById("active-label").value = label;
  state.labels = new Map();
  if (!label) return;
  try {
    for (let offset = 0; offset < 2000; offset += 200) {
      const page = await api(`/api/classifiers/${enc(label)}/annotations?limit=200&offset=${offset}`);
      for (const a of page.annotations) state.labels.set(a.shot_id, a.value);
      if (!page.has_more) break;
    }
  } catch (e) { if (e.status !== 404) showError(e); }
  state.items.forEach((it) => it.update());
}
async function submitLabel(shotId, value) {
  if (!state.label) throw new Error("choose the label you are labelling for (top bar), or create one under Classifiers");
  await api(`/api/classifiers/${enc(state.label)}/labels`, { method: "POST",
    body: { labels: [{ shot_id: shotId, value }], annotator: localStorage.getItem("shotline.annotator") || "console" } });
  if (value === "cleared") state.labels.delete(shotId); else state.labels.set(shotId, value);
  state.items.filter((it) => it.shot.shot_id === shotId).forEach((it) => it.update());
  info(`${shotId}: ${value} for ${state.label}`);
}

// ---- keyboard -------------------------------------------------------------------------------
function select(i) {
  if (!state.items.length) return;
  i = Math.max(0, Math.min(state.items.length - 1, i));
  state.items.forEach((it, j) => { it.el.classList.toggle("selected", j === i); it.el.setAttribute("aria-current", j === i ? "true" : "false"); });
  state.sel = i;
  state.items[i].el.scrollIntoView({ block: "nearest" });
}
document.addEventListener("keydown", async (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) return;
  const it = state.items[state.sel];
  const value = { y: "positive", n: "negative", c: "cleared" }[ev.key];
  try {
    if (ev.key === "j") select(state.sel + 1);
    else if (ev.key === "k") select(state.sel - 1);
    else if (value && it) { ev.preventDefault(); await submitLabel(it.shot.shot_id, value); select(state.sel + 1); }
    else if (ev.key === "p" && it) play(it.shot);
  } catch (e) { showError(e); }
});

// ---- media ----------------------------------------------------------------------------------
async function play(shot) {
  const dlg = document.getElementById("player"), video = document.getElementById("player-video");
  try {
    if (!shot.video) throw new Error(`${shot.shot_id} has no source the console knows of`);
    const p = await api(`/api/play/${shot.video.split("/").slice(3).join("/")}?start_ms=${shot.start_ms}&end_ms=${shot.end_ms}`);
    const start = p.start_ms / 1000, end = p.end_ms / 1000;
    document.getElementById("player-title").textContent = `${shot.shot_id} · ${secs(shot.start_ms)}–${secs(shot.end_ms)}`;
    document.getElementById("player-note").textContent = p.kind === "range"
      ? "streamed from the source with HTTP range requests" : "an H.264 preview of the shot (the source format does not play in browsers)";
    video.dataset.start = start; video.dataset.end = end;
    video.src = `${p.url}#t=${start},${end}`;
    video.onerror = () => showError(new Error(`${shot.shot_id}: the browser cannot play this video`));
    // Stop at the shot's end to the frame (timeupdate alone fires only every ~250 ms).
    const watch = () => { if (video.currentTime >= end) video.pause(); else if (!video.paused) video.requestVideoFrameCallback(watch); };
    video.onplaying = () => video.requestVideoFrameCallback(watch);
    video.ontimeupdate = () => { if (video.currentTime >= end) video.pause(); };
    if (!dlg.open) dlg.showModal();
    video.muted = true;
    await video.play();
  } catch (e) { if (e.name !== "AbortError") showError(e); }
}
document.addEventListener("DOMContentLoaded", () => {
  const dlg = document.getElementById("player"), video = document.getElementById("player-video");
  document.getElementById("player-close").onclick = () => dlg.close();
  dlg.addEventListener("close", () => { video.pause(); video.removeAttribute("src"); video.load(); });
});

// ---- shot cards -----------------------------------------------------------------------------
function shotCard(shot, extra = {}) {
  const badge = h("span", { class: "badge" });
  const el = h("article", { class: "shot", "aria-label": `shot ${shot.shot_id}`, tabindex: "-1" },
    shot.thumbnail ? h("img", { src: shot.thumbnail, alt: `keyframe of ${shot.shot_id}`, width: 220, height: 124 })
                   : h("div", { class: "muted" }, "no keyframe"),
    h("div", { class: "meta" }, h("a", { href: `#/video/${enc(shot.video_id)}` }, shot.shot_id),
      h("span", {}, `${secs(shot.start_ms)}–${secs(shot.end_ms)}`)),
    h("div", { class: "meta" }, h("span", {}, shot.score !== undefined ? `score ${fmt(shot.score)}` : ""), badge),
    saidAndShown(shot),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => play(shot) }, "Play"),
      h("button", { type: "button", onclick: () => go("/search", new URLSearchParams({ similar: shot.shot_id })) }, "More like this"),
      h("button", { type: "button", "aria-label": `Yes: ${shot.shot_id}`, onclick: () => submitLabel(shot.shot_id, "positive").catch(showError) }, "Yes"),
      h("button", { type: "button", "aria-label": `No: ${shot.shot_id}`, onclick: () => submitLabel(shot.shot_id, "negative").catch(showError) }, "No"),
      h("button", { type: "button", "aria-label": `Clear: ${shot.shot_id}`, onclick: () => submitLabel(shot.shot_id, "cleared").catch(showError) }, "Clear")),
    extra.footer || null);
  const item = { el, shot, update() {
    const v = state.labels.get(shot.shot_id);
    el.classList.toggle("positive", v === "positive"); el.classList.toggle("negative", v === "negative");
    badge.className = "badge " + (v || ""); badge.textContent = v || "unlabelled";
  } };
  item.update();
  el.addEventListener("click", () => select(state.items.indexOf(item)));
  state.items.push(item);
  return el;
}
// What is said and shown in a search hit, the query's matched words marked (they come with their timecodes).
function marked(text, words) {
  if (!words.size) return [text];
  return text.split(/(\s+)/).map((t) => words.has(t.toLowerCase().replace(/[^\p{L}\p{N}']/gu, "")) ? h("mark", {}, t) : t);
}
function saidAndShown(shot) {
  if (!shot.transcript && !shot.on_screen_text && !(shot.signals || []).length) return null;
  const words = new Set((shot.matches || []).map((m) => m.word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, "")));
  const first = (src) => (shot.matches || []).find((m) => m.source === src);
  const line = (label, text, src) => text ? h("p", { class: "said", "aria-label": label },
    h("b", {}, label + (first(src) ? ` @${secs(first(src).start_ms)}` : "") + ": "), ...marked(text, words)) : null;
  return h("div", { class: "text" },
    (shot.signals || []).length ? h("div", { class: "signals", "aria-label": "matched by" }, shot.signals.map((x) => h("span", { class: "signal" }, x))) : null,
    line("Said", shot.transcript, "speech"), line("On screen", shot.on_screen_text, "on_screen"));
}
function pager(offset, limit, hasMore, onPage) {
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: offset === 0, onclick: () => onPage(Math.max(0, offset - limit)) }, "Previous page"),
    h("span", {}, `items ${offset + 1}–${offset + limit}`),
    h("button", { type: "button", disabled: !hasMore, onclick: () => onPage(offset + limit) }, "Next page"));
}

// ---- views ----------------------------------------------------------------------------------
async function searchView(view, q) {
  const field = (name, label, attrs = {}) => h("label", {}, label, h("input", { type: "text", name, value: q.get(name) || "", ...attrs }));
  const form = h("form", { class: "bar", role: "search", onsubmit: (ev) => {
      ev.preventDefault();
      const fd = new FormData(form), p = new URLSearchParams();
      for (const [k, v] of fd) if (v) p.set(k, v);
      go("/search", p);
    } },
    h("label", {}, "Search text", h("input", { type: "text", name: "q", value: q.get("q") || "", size: 40, placeholder: "a car chase at night" })),
    field("catalog", "Catalog"), field("video", "Video"),
    field("min_s", "From (s)", { size: 5 }), field("max_s", "To (s)", { size: 5 }),
    h("label", {}, "Match", h("select", { name: "mode", "aria-label": "Match" },
      [["hybrid", "meaning + words"], ["vector", "meaning only"], ["keyword", "words only"]].map(([v, t]) =>
        h("option", { value: v, selected: (q.get("mode") || "hybrid") === v }, t)))),
    h("label", {}, "Group by video", h("input", { type: "checkbox", name: "group", value: "1", checked: q.get("group") === "1" })),
    h("button", { class: "primary", type: "submit" }, "Search"),
    h("label", {}, "Search by clip", h("input", { type: "file", accept: "video/*", onchange: async (ev) => {
      const f = ev.target.files[0]; if (!f) return;
      try { info(`searching with ${f.name}…`); render(await api("/api/similar/clip?limit=48", { method: "POST", body: f }), `clip ${f.name}`); clearAlert(); }
      catch (e) { showError(e); }
    } })));
  const results = h("section", { "aria-label": "Results" });
  view.append(h("h2", {}, "Search"), form, results);
  const render = (res, what) => {
    state.items = []; state.sel = -1;
    const title = h("h3", {}, `Results for ${what}`, h("span", { class: "muted" }, ` · ${res.model} (${res.head})` +
      (res.mode ? ` · ${res.mode}` : "") + (res.note ? ` · ${res.note}` : "")));
    const page = (o) => { q.set("offset", o); go("/search", q); };
    if (res.videos) {
      results.replaceChildren(title, ...res.videos.map((v) => h("section", { class: "group", "aria-label": `video ${v.video_id}` },
        h("h3", {}, h("a", { href: `#/video/${enc(v.video_id)}` }, v.video_id), ` · best ${fmt(v.score)}`),
        h("div", { class: "grid" }, v.shots.map((s) => shotCard(s))))), pager(res.offset, res.limit, res.has_more, page));
    } else {
      results.replaceChildren(title, res.hits.length ? h("div", { class: "grid" }, res.hits.map((s) => shotCard(s)))
        : h("p", {}, "No shots match."), pager(res.offset, res.limit, res.has_more, page));
    }
    if (state.items.length) select(0);
  };
  const p = new URLSearchParams();
  for (const k of ["catalog", "video", "offset", "limit", "group", "mode"]) if (q.get(k)) p.set(k, q.get(k));
  if (q.get("min_s")) p.set("min_start_ms", Math.round(parseFloat(q.get("min_s")) * 1000));
  if (q.get("max_s")) p.set("max_end_ms", Math.round(parseFloat(q.get("max_s")) * 1000));
  if (!p.get("limit")) p.set("limit", "48");
  if (q.get("similar")) { p.set("shot", q.get("similar")); render(await api("/api/similar?" + p), `shots like ${q.get("similar")}`); }
  else if (q.get("q")) { p.set("q", q.get("q")); render(await api("/api/search?" + p), `“${q.get("q")}”`); }
  else return;
  await loaded("search");
}

async function classifiersView(view) {
  const form = h("form", { class: "bar", "aria-label": "New label", onsubmit: async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      try {
        const r = await api("/api/classifiers", { method: "POST", body: { label: fd.get("label"), description: fd.get("description") } });
        await setLabel(r.label); await loadLabels();
        go(`/workspace/${enc(r.label)}`);
      } catch (e) { showError(e); }
    } },
    h("label", {}, "Label name", h("input", { type: "text", name: "label", placeholder: "car-chase", pattern: "[a-z0-9][a-z0-9_.\\-]*" })),
    h("label", {}, "Description", h("input", { type: "text", name: "description", size: 50, placeholder: "two or more cars chasing each other" })),
    h("button", { class: "primary", type: "submit" }, "Create label"));
  view.append(h("h2", {}, "Classifiers"), form);
  const { classifiers } = await api("/api/classifiers");
  view.append(classifiers.length ? h("table", { "aria-label": "Classifiers" },
    h("thead", {}, h("tr", {}, ["label", "description", "deployed", "labels", "state", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, classifiers.map((c) => h("tr", {},
      h("td", {}, h("a", { href: `#/workspace/${enc(c.label)}` }, c.label)), h("td", {}, c.description),
      h("td", {}, c.deployed_version ? `v${c.deployed_version}${c.pinned ? " (pinned)" : ""}` : "—"),
      h("td", {}, `${c.positives}+ / ${c.negatives}−`), h("td", {}, c.retrain.text),
      h("td", {}, h("a", { href: `#/review/${enc(c.label)}` }, "Review")))))) : h("p", {}, "No classifiers yet: create the first label above."));
}

function versionsTable(c, onChange) {
  const deploy = async (v) => { try { onChange(await api(`/api/classifiers/${enc(c.label)}/deploy`, { method: "POST", body: { version: v } })); } catch (e) { showError(e); } };
  return h("table", { "aria-label": "Version history" },
    h("thead", {}, h("tr", {}, ["version", "kind", "AP [95% CI]", "labels", "trained", "train time", "", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, [...c.versions].reverse().map((v) => h("tr", { "aria-label": `version ${v.version}` },
      h("td", {}, `v${v.version}`), h("td", {}, v.kind),
      h("td", {}, `${fmt(v.ap)} [${fmt(v.ap_low, 2)}–${fmt(v.ap_high, 2)}]`),
      h("td", {}, `${v.positives}+ / ${v.negatives}−`),
      h("td", {}, v.trained_at_ms ? new Date(v.trained_at_ms).toLocaleString() : "—"),
      h("td", {}, v.train_seconds !== null ? `${fmt(v.train_seconds, 2)} s` : "—"),
      h("td", {}, v.version === c.deployed_version ? (c.pinned ? "deployed (pinned)" : "deployed") : ""),
      h("td", {}, v.version === c.deployed_version ? (c.pinned ? h("button", { type: "button", onclick: () => deploy(0) }, "Follow latest") : "")
        : h("button", { type: "button", onclick: () => deploy(v.version) },
            v.version < c.deployed_version ? `Roll back to v${v.version}` : `Deploy v${v.version}`))))));
}

async function workspaceView(view, label, q) {
  if (state.label !== label) await setLabel(label);
  const kind = q.get("feed") || "borderline", offset = parseInt(q.get("offset") || "0", 10), limit = parseInt(q.get("limit") || "50", 10);
  const status = h("span", { class: "status", role: "status", "aria-label": "Retrain state" }, "loading…");
  const desc = h("p", { class: "muted" });
  const versions = h("section", { "aria-label": "Versions" });
  const feed = h("section", { "aria-label": "Feed" });
  const tabs = h("div", { role: "tablist", "aria-label": "Feeds" }, FEEDS.map(([k, name]) =>
    h("button", { type: "button", role: "tab", "aria-selected": k === kind ? "true" : "false",
      onclick: () => go(`/workspace/${enc(label)}`, new URLSearchParams({ feed: k })) }, name)));
  view.append(h("h2", {}, `Workspace: ${label}`, status), desc,
    h("p", {}, h("a", { href: `#/review/${enc(label)}` }, "Review annotations"), " · ",
      h("a", { href: `#/search` }, "Search for examples")),
    tabs, h("div", { role: "tabpanel", "aria-label": FEEDS.find(([k]) => k === kind)[1] }, feed),
    h("h3", {}, "Versions"), versions);
  const showClassifier = (c) => {
    status.textContent = c.retrain.text; status.className = "status " + c.retrain.state;
    desc.textContent = `${c.description || "no description"} · ${c.positives} positive, ${c.negatives} negative labels`;
    versions.replaceChildren(c.versions.length ? versionsTable(c, showClassifier) : h("p", {}, "No version yet."));
    const changed = state.seenVersion !== null && state.seenVersion !== c.deployed_version;
    state.seenVersion = c.deployed_version;
    if (changed) { info(`v${c.deployed_version} is live: the feed is re-ranked`); loadFeed(); }
  };
  const refresh = async () => {
    try { showClassifier(await api(`/api/classifiers/${enc(label)}`)); }
    catch (e) {
      if (e.status === 404) { status.textContent = "queued: waiting for the trainer to register the label"; status.className = "status queued"; }
      else showError(e);
    }
  };
  const loadFeed = async () => {
    try {
      const res = await api(`/api/classifiers/${enc(label)}/feeds/${kind}?offset=${offset}&limit=${limit}`);
      state.items = []; state.sel = -1;
      feed.replaceChildren(res.hits.length ? h("div", { class: "grid" }, res.hits.map((s) => shotCard(s)))
        : h("p", {}, "This feed is empty: every shot it would show is labelled, or no version is deployed yet."),
        pager(res.offset, res.limit, res.has_more, (o) => go(`/workspace/${enc(label)}`, new URLSearchParams({ feed: kind, offset: o }))));
      if (state.items.length) select(0);
    } catch (e) {
      feed.replaceChildren(h("p", {}, e.status === 404 ? `No feed yet: ${e.message}` : e.message));
      if (e.status !== 404) showError(e);
    }
  };
  state.seenVersion = null;
  await refresh();
  await loadFeed();
  await loaded("feed");
  every(1500, refresh);
}

async function reviewView(view, label, q) {
  if (state.label !== label) await setLabel(label);
  const offset = parseInt(q.get("offset") || "0", 10);
  const p = new URLSearchParams({ offset, limit: q.get("limit") || "50", sort: q.get("sort") || "recent" });
  for (const k of ["value", "annotator", "since_ms"]) if (q.get(k)) p.set(k, q.get(k));
  const res = await api(`/api/classifiers/${enc(label)}/annotations?` + p);
  const change = (k) => (ev) => { if (ev.target.value) q.set(k, ev.target.value); else q.delete(k); q.delete("offset"); go(`/review/${enc(label)}`, q); };
  const opt = (v, text, cur) => h("option", { value: v, selected: (cur || "") === v }, text);
  view.append(h("h2", {}, `Review: ${label}`),
    h("p", {}, `${res.counts.positive} positive, ${res.counts.negative} negative · `, h("a", { href: `#/workspace/${enc(label)}` }, "Workspace")),
    h("form", { class: "bar", "aria-label": "Filters", onsubmit: (e) => e.preventDefault() },
      h("label", {}, "Value", h("select", { onchange: change("value") }, opt("", "any", q.get("value")), opt("positive", "positive", q.get("value")), opt("negative", "negative", q.get("value")))),
      h("label", {}, "Annotator", h("select", { onchange: change("annotator") }, opt("", "anyone", q.get("annotator")), res.annotators.map((a) => opt(a, a, q.get("annotator"))))),
      h("label", {}, "Labelled since", h("input", { type: "date", value: q.get("since_ms") ? new Date(+q.get("since_ms")).toISOString().slice(0, 10) : "",
        onchange: (ev) => { if (ev.target.value) q.set("since_ms", Date.parse(ev.target.value)); else q.delete("since_ms"); go(`/review/${enc(label)}`, q); } })),
      h("label", {}, "Sort", h("select", { onchange: change("sort") }, opt("recent", "most recent", q.get("sort") || "recent"), opt("disagreement", "disagreement with the model", q.get("sort"))))));
  state.items = []; state.sel = -1;
  const rows = res.annotations.map((a) => {
    const shot = a.shot || { shot_id: a.shot_id, video_id: a.shot_id.split("/")[0], start_ms: 0, end_ms: 0 };
    const badge = h("span", { class: "badge" });
    const btn = (value, text) => h("button", { type: "button", onclick: () => submitLabel(a.shot_id, value).catch(showError) }, text);
    const tr = h("tr", { "aria-label": `annotation ${a.shot_id}` },
      h("td", {}, shot.thumbnail ? h("img", { src: shot.thumbnail, alt: `keyframe of ${a.shot_id}` }) : ""),
      h("td", {}, h("a", { href: `#/video/${enc(shot.video_id)}` }, a.shot_id)), h("td", {}, badge),
      h("td", {}, a.annotator || "—"), h("td", {}, new Date(a.labelled_at_ms).toLocaleString()),
      h("td", {}, `model ${fmt(a.score)}`),
      h("td", {}, shot.video ? h("button", { type: "button", onclick: () => play(shot) }, "Play") : "",
        btn("positive", "Positive"), btn("negative", "Negative"), btn("cleared", "Clear")));
    const item = { el: tr, shot, update() { const v = state.labels.get(a.shot_id) || "cleared"; badge.className = "badge " + v; badge.textContent = v; } };
    state.labels.set(a.shot_id, state.labels.get(a.shot_id) || a.value);
    item.update(); state.items.push(item);
    tr.addEventListener("click", () => select(state.items.indexOf(item)));
    return tr;
  });
  view.append(res.annotations.length ? h("table", { "aria-label": "Annotations" },
    h("thead", {}, h("tr", {}, ["", "shot", "value", "annotator", "labelled", "score", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
    : h("p", {}, "No annotations match."),
    pager(res.offset, res.limit, res.has_more, (o) => { q.set("offset", o); go(`/review/${enc(label)}`, q); }));
  if (res.replaced && res.replaced.length) {
    // A re-upload changed these shots: the old label described content that is gone.
    view.append(h("h3", {}, `Shot replaced (${res.replaced.length})`),
      h("p", {}, "A re-upload changed these shots, so their labels are kept here and left out of training. Look at the new shot and label it again."),
      h("table", { "aria-label": "Replaced shots" },
        h("thead", {}, h("tr", {}, ["shot", "old label", "annotator", "labelled on upload", "replaced by", "replaced", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, res.replaced.map((r) => h("tr", { "aria-label": `replaced ${r.shot_id}` },
          h("td", {}, h("a", { href: `#/video/${enc(r.shot_id.split("/")[0])}` }, r.shot_id)),
          h("td", {}, h("span", { class: `badge ${r.value}` }, r.value), " ", h("span", { class: "badge replaced" }, "shot replaced")),
          h("td", {}, r.annotator || "—"), h("td", {}, r.old_upload_id), h("td", {}, r.new_upload_id),
          h("td", {}, new Date(r.replaced_at_ms).toLocaleString()),
          h("td", {}, h("button", { type: "button", onclick: () => submitLabel(r.shot_id, "positive").then(() => go(`/review/${enc(label)}`, q)).catch(showError) }, "Positive now"),
            h("button", { type: "button", onclick: () => submitLabel(r.shot_id, "negative").then(() => go(`/review/${enc(label)}`, q)).catch(showError) }, "Negative now")))))));
  }
  if (state.items.length) select(0);
  await loaded("review");
}

async function videoView(view, vid) {
  const res = await api(`/api/videos/${enc(vid)}`);
  const total = Math.max(1, ...res.shots.map((s) => s.end_ms));
  state.items = []; state.sel = -1;
  const cats = res.categories;
  view.append(h("h2", {}, `Video: ${vid}`),
    h("div", { class: "timeline", role: "list", "aria-label": "Timeline" }, res.shots.map((s) => h("a", {
      role: "listitem", href: `#/video/${enc(vid)}`, title: `${s.shot_id} ${secs(s.start_ms)}–${secs(s.end_ms)}`,
      style: `left:${(100 * s.start_ms) / total}%;width:${(100 * (s.end_ms - s.start_ms)) / total}%`,
      onclick: (ev) => { ev.preventDefault(); select(res.shots.indexOf(s)); } }, `#${s.index}`))),
    h("div", { class: "columns" },
      h("section", { "aria-label": "Shots" }, h("h3", {}, `${res.shots.length} shots`), h("div", { class: "grid" }, res.shots.map((s) => shotCard(s)))),
      h("section", { "aria-label": "Categories" }, h("h3", {}, "Taxonomy categories"),
        cats ? h("div", {}, h("p", { class: "muted" }, `taxonomy ${cats.taxonomy_version}`),
          cats.categories.length ? h("table", { "aria-label": "Categories" },
            h("thead", {}, h("tr", {}, ["category", "score", "threshold", "model"].map((t) => h("th", {}, t)))),
            h("tbody", {}, cats.categories.map((c) => h("tr", {}, h("td", {}, c.name), h("td", {}, fmt(c.score)), h("td", {}, fmt(c.threshold)),
              h("td", {}, `${c.source}${c.model ? " · " + c.model : ""}`))))) : h("p", {}, "No category above its threshold."),
          h("h3", {}, "Classifiers"),
          cats.classifiers.length ? h("table", { "aria-label": "Classifier scores" },
            h("thead", {}, h("tr", {}, ["label", "version", "score"].map((t) => h("th", {}, t)))),
            h("tbody", {}, cats.classifiers.map((c) => h("tr", {}, h("td", {}, h("a", { href: `#/workspace/${enc(c.label)}` }, c.label)),
              h("td", {}, `v${c.version}`), h("td", {}, fmt(c.score)))))) : h("p", {}, "No classifier has scored this video yet."))
          : h("p", {}, res.categories_error))));
  if (state.items.length) select(0);
  await loaded("video");
}

// ---- router ---------------------------------------------------------------------------------
async function route() {
  state.timers.forEach(clearInterval); state.timers = [];
  state.items = []; state.sel = -1;
  const view = document.getElementById("view");
  view.replaceChildren();
  const { parts, q } = params();
  const page = parts[0] || "search";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("current", a.getAttribute("href") === `#/${page}`));
  document.title = `Shotline · ${page}`;
  try {
    if (page === "search") await searchView(view, q);
    else if (page === "classifiers") await classifiersView(view);
    else if (page === "workspace" && parts[1]) await workspaceView(view, parts[1], q);
    else if (page === "review" && parts[1]) await reviewView(view, parts[1], q);
    else if (page === "video" && parts[1]) await videoView(view, parts[1]);
    else view.append(h("p", {}, "No such page."));
  } catch (e) { showError(e); view.append(h("p", {}, e.message)); }
}
window.addEventListener("hashchange", () => { clearAlert(); route(); });
document.addEventListener("DOMContentLoaded", async () => {
  const sel = document.getElementById("active-label");
  sel.addEventListener("change", () => setLabel(sel.value));
  await loadLabels();
  if (state.label) setLabel(state.label);
  route();
});
