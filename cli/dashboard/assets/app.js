/* global document, window, location, EventSource, fetch, setInterval, setTimeout, clearTimeout, Node */
// The Bulkhead dashboard page: plain DOM, no build step, no library. The server pushes whole
// views (server-sent events); this file only draws them and updates the pod tiles in place, so
// a 1,000-pod grid changes only the tiles that changed. Routes: #/ (overview), #/r/NS/NAME.

const main = document.getElementById("main");
const live = document.getElementById("live");
const crumbs = document.getElementById("crumbs");
const dialog = document.getElementById("confirm");
const toast = document.getElementById("toast");

/** Builds an element: el("td", {class: "x"}, "text", child...). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function age(iso) {
  if (!iso) return "-";
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function duration(fromIso, toIso) {
  const s = Math.max(0, Math.round(((toIso ? Date.parse(toIso) : Date.now()) - Date.parse(fromIso)) / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
}

const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "-");

function showToast(text) {
  toast.textContent = text;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => (toast.textContent = ""), 8000);
}

// --- the stream -----------------------------------------------------------------------------

let source;
let route = { kind: "overview" };
let page; // the current page's draw(view) and its state

function parseRoute() {
  const m = /^#\/r\/([^/]+)\/([^/]+)$/.exec(location.hash);
  return m
    ? { kind: "rollout", namespace: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]) }
    : { kind: "overview" };
}

function connect() {
  if (source) source.close();
  const query =
    route.kind === "rollout"
      ? `?namespace=${encodeURIComponent(route.namespace)}&name=${encodeURIComponent(route.name)}`
      : "";
  source = new EventSource(`/api/stream${query}`);
  live.textContent = "connecting…";
  live.className = "live";
  source.onopen = () => {
    live.textContent = "live";
    live.className = "live on";
  };
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  };
  source.addEventListener("view", (e) => page.draw(JSON.parse(e.data)));
}

function navigate() {
  route = parseRoute();
  main.replaceChildren();
  crumbs.replaceChildren();
  page = route.kind === "rollout" ? rolloutPage(route) : overviewPage();
  connect();
}

window.addEventListener("hashchange", navigate);
// Ages tick locally; nothing is fetched.
setInterval(() => page?.tick?.(), 5000);

// --- overview -------------------------------------------------------------------------------

const PHASES = ["Pending", "Progressing", "Paused", "RolloutDone", "RolloutFailed"];
const filters = { namespace: "", phase: "" };

function overviewPage() {
  document.title = "Bulkhead rollouts";
  const nsSelect = el("select", { id: "filter-namespace" }, el("option", { value: "" }, "all namespaces"));
  const phaseSelect = el(
    "select",
    { id: "filter-phase" },
    el("option", { value: "" }, "all phases"),
    PHASES.map((p) => el("option", { value: p }, p)),
  );
  phaseSelect.value = filters.phase;
  const count = el("span", { class: "muted", id: "overview-count" });
  const tbody = el("tbody");
  main.append(
    el("h1", {}, "Rollouts"),
    el(
      "div",
      { class: "filters" },
      el("label", {}, "Namespace ", nsSelect),
      el("label", {}, "Phase ", phaseSelect),
      count,
    ),
    el(
      "table",
      { id: "overview" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          [
            "Namespace",
            "Name",
            "Phase",
            "Percent (target / deployed)",
            "Updated / Ready / Total",
            "Group",
            "Age",
            "Reason",
          ].map((h) => el("th", { scope: "col" }, h)),
        ),
      ),
      tbody,
    ),
  );
  let rows = [];
  const render = () => {
    const shown = rows.filter(
      (r) => (!filters.namespace || r.namespace === filters.namespace) && (!filters.phase || r.phase === filters.phase),
    );
    count.textContent = `${shown.length} of ${rows.length} rollouts`;
    tbody.replaceChildren(
      ...shown.map((r) =>
        el(
          "tr",
          { "data-rollout": `${r.namespace}/${r.name}` },
          el("td", {}, r.namespace),
          el(
            "td",
            {},
            el("a", { href: `#/r/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}` }, r.name),
          ),
          el(
            "td",
            {},
            el("span", { class: `badge ${r.phase}` }, r.phase),
            r.paused && r.phase !== "Paused" ? " (paused)" : "",
          ),
          el("td", {}, `${r.percent}% / ${r.deployed === undefined ? "-" : `${r.deployed}%`}`),
          el("td", {}, `${r.updated} / ${r.ready} / ${r.total}`),
          el("td", {}, r.group ?? "-"),
          el("td", { "data-age": r.createdAt ?? "" }, age(r.createdAt)),
          el("td", { class: "muted" }, r.reason ?? ""),
        ),
      ),
    );
  };
  nsSelect.addEventListener("change", () => ((filters.namespace = nsSelect.value), render()));
  phaseSelect.addEventListener("change", () => ((filters.phase = phaseSelect.value), render()));
  return {
    draw(view) {
      if (view.kind !== "overview") return;
      rows = view.rows;
      crumbs.textContent = view.namespace ? `namespace ${view.namespace}` : "all namespaces";
      const namespaces = [...new Set(rows.map((r) => r.namespace))].sort();
      const current = nsSelect.value;
      nsSelect.replaceChildren(
        el("option", { value: "" }, "all namespaces"),
        ...namespaces.map((n) => el("option", { value: n }, n)),
      );
      nsSelect.value = namespaces.includes(current) ? current : "";
      filters.namespace = nsSelect.value;
      render();
    },
    tick() {
      for (const td of tbody.querySelectorAll("td[data-age]")) td.textContent = age(td.dataset.age);
    },
  };
}

// --- rollout page ---------------------------------------------------------------------------

const REV_TEXT = { new: "N", old: "O", other: "X", unknown: "?" };
const REV_WORDS = { new: "new revision", old: "old revision", other: "another revision", unknown: "revision unknown" };
const STATE_TEXT = { ready: "✓", "not-ready": "○", stuck: "!", terminating: "✕", missing: "–" };
const STATE_WORDS = {
  ready: "Ready",
  "not-ready": "not Ready",
  stuck: "stuck",
  terminating: "terminating",
  missing: "no pod",
};

function tileLabel(t) {
  const parts = [`${t.name}: ${REV_WORDS[t.rev]}${t.revision ? ` ${t.revision}` : ""}`, STATE_WORDS[t.state]];
  if (t.detail) parts.push(t.detail);
  if (t.consulFailing) parts.push("failing in Consul");
  if (t.inWave) parts.push("in the wave in flight");
  return parts.join(", ");
}

function legend() {
  const sample = (cls, text, words) =>
    el("span", {}, el("span", { class: `tile ${cls}`, "aria-hidden": "true" }, text), ` ${words}`);
  return el(
    "div",
    { class: "legend", "aria-label": "Legend" },
    sample("new ready", "N ✓", "new revision, Ready"),
    sample("old ready", "O ✓", "old revision"),
    sample("new not-ready", "N ○", "not Ready"),
    sample("new stuck", "N !", "stuck (crash-looping, unschedulable)"),
    sample("old terminating", "O ✕", "terminating"),
    sample("new ready consul", "N ✓C", "failing in Consul"),
    sample("old ready wave", "O ✓", "outlined: in the wave in flight"),
  );
}

function rolloutPage(r) {
  document.title = `${r.name} · Bulkhead`;
  crumbs.append(el("a", { href: "#/" }, "all rollouts"), ` / ${r.namespace} / ${r.name}`);
  const head = el("div");
  const phases = el("ol", { class: "phases", id: "phases", "aria-label": "Phases" });
  const summary = el("dl", { class: "summary", id: "summary" });
  const percentInput = el("input", {
    type: "number",
    min: 0,
    max: 100,
    step: 1,
    id: "promote-percent",
    "aria-label": "Promote to percent",
  });
  const actions = el(
    "div",
    { class: "actions", role: "group", "aria-label": "Actions" },
    el("button", { type: "button", id: "action-pause", onclick: () => act("pause") }, "Pause"),
    el("button", { type: "button", id: "action-resume", onclick: () => act("resume") }, "Resume"),
    el(
      "span",
      {},
      el(
        "button",
        {
          type: "button",
          id: "action-promote",
          onclick: () => act("promote", percentInput.value === "" ? undefined : Number(percentInput.value)),
        },
        "Promote to",
      ),
      " ",
      percentInput,
      " %",
    ),
    el("button", { type: "button", id: "action-rollback", onclick: () => act("rollback") }, "Roll back"),
    el("button", { type: "button", id: "action-retry", onclick: () => act("retry") }, "Retry"),
  );
  const grid = el("div", { class: "grid", id: "tiles", role: "list", "aria-label": "Pods by ordinal" });
  const podDetail = el("div", { class: "poddetail", id: "pod-detail", "aria-live": "polite" });
  const podsNote = el("p", { class: "muted" });
  const waves = el("tbody");
  const wavesNote = el("p", { class: "muted" });
  const events = el("tbody");
  const history = el("tbody");
  const table = (id, headers, body) =>
    el(
      "table",
      { id },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          headers.map((h) => el("th", { scope: "col" }, h)),
        ),
      ),
      body,
    );
  main.append(
    head,
    el("h2", {}, "Phases"),
    phases,
    summary,
    actions,
    el("h2", { id: "pods-title" }, "Pods"),
    legend(),
    grid,
    podDetail,
    podsNote,
    el(
      "div",
      { class: "cols" },
      el(
        "section",
        { "aria-labelledby": "waves-title" },
        el("h2", { id: "waves-title" }, "Waves"),
        wavesNote,
        table("waves", ["Wave", "Direction", "Pods", "Started", "Duration"], waves),
      ),
      el(
        "section",
        { "aria-labelledby": "events-title" },
        el("h2", { id: "events-title" }, "Recent events"),
        el(
          "div",
          { class: "scroll", tabindex: 0, role: "region", "aria-label": "Recent events, newest first" },
          table("events", ["Time", "Type", "Reason", "Message"], events),
        ),
      ),
    ),
    el("h2", {}, "History"),
    table(
      "history",
      ["Started", "Duration", "Outcome", "Trigger", "Revision", "Image", "Percent", "Waves", "Identity", "Reason"],
      history,
    ),
  );

  // Tiles: one element per ordinal, updated in place; roving tabindex, arrow keys move.
  const tiles = [];
  let focused = 0;
  const describeTile = (i) => (podDetail.textContent = tiles[i] ? tiles[i].getAttribute("aria-label") : "");
  grid.addEventListener("keydown", (e) => {
    const perRow = Math.max(1, Math.round(grid.clientWidth / (tiles[0]?.offsetWidth + 3 || 48)));
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow, Home: -Infinity, End: Infinity };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const next = Math.min(tiles.length - 1, Math.max(0, focused + moves[e.key]));
    tiles[focused]?.setAttribute("tabindex", "-1");
    focused = next;
    tiles[focused].setAttribute("tabindex", "0");
    tiles[focused].focus();
    describeTile(focused);
  });
  grid.addEventListener("focusin", (e) => {
    const i = tiles.indexOf(e.target);
    if (i >= 0) describeTile(i);
  });

  function drawTiles(list) {
    while (tiles.length > list.length) tiles.pop().remove();
    list.forEach((t, i) => {
      let node = tiles[i];
      if (!node) {
        node = el(
          "div",
          { role: "listitem", tabindex: i === focused ? "0" : "-1" },
          el("span", { class: "o" }),
          el("span", { class: "s" }),
        );
        tiles.push(node);
        grid.append(node);
      }
      const cls = `tile ${t.rev} ${t.state}${t.consulFailing ? " consul" : ""}${t.inWave ? " wave" : ""}`;
      if (node.className !== cls) node.className = cls;
      const label = tileLabel(t);
      if (node.getAttribute("aria-label") !== label) {
        node.setAttribute("aria-label", label);
        node.title = label;
        node.dataset.ordinal = String(t.ordinal);
        node.dataset.rev = t.rev;
        node.dataset.state = t.state;
        node.firstChild.textContent = String(t.ordinal);
        node.lastChild.textContent = `${REV_TEXT[t.rev]} ${STATE_TEXT[t.state]}${t.consulFailing ? "C" : ""}`;
        if (i === focused && document.activeElement === node) describeTile(i);
      }
    });
  }

  let current;
  function draw(view) {
    if (view.kind === "missing") {
      head.replaceChildren(
        el("h1", {}, r.name),
        el(
          "p",
          { class: "refused" },
          `No StatefulsetRollout ${view.namespace}/${view.name} (deleted, or outside this dashboard's namespace).`,
        ),
      );
      return;
    }
    if (view.kind !== "rollout") return;
    const v = view.rollout;
    current = v;
    const pausedText = v.paused ? "paused" : v.pauseRequested ? "pause requested: stops after the current wave" : "";
    head.replaceChildren(
      el(
        "h1",
        {},
        v.name,
        " ",
        el("span", { class: `badge ${v.phase}`, id: "phase" }, v.phase),
        pausedText ? el("span", { id: "paused", class: "badge Paused" }, pausedText) : "",
      ),
      el("p", { class: "reason", id: "reason" }, v.reason ?? ""),
    );
    phases.replaceChildren(
      ...v.phases.map((p) =>
        el(
          "li",
          { class: p.state },
          `${p.percent}% · ${p.state === "done" ? "done" : p.state === "current" ? (v.paused ? "paused" : "rolling") : "next"}`,
        ),
      ),
    );
    const row = (k, value) => [el("dt", {}, k), el("dd", {}, value)];
    summary.replaceChildren(
      ...row("Namespace", v.namespace),
      ...row("Percent", `${v.percent}% requested · ${v.deployed === undefined ? "-" : `${v.deployed}%`} deployed`),
      ...row("Pods", `${v.total} total · ${v.target} to update · ${v.updated} updated · ${v.ready} ready`),
      ...row(
        "Revisions",
        v.currentRevision && v.currentRevision !== v.updateRevision
          ? `${v.currentRevision} (old, grey) → ${v.updateRevision ?? "?"} (new, blue)`
          : (v.updateRevision ?? "-"),
      ),
      ...row("Image", v.image),
      ...(v.previousImage ? row("Rollback to", v.previousImage) : []),
      ...row("Identity", v.identity ?? "-"),
      ...(v.generation !== undefined && v.observedGeneration !== undefined && v.observedGeneration < v.generation
        ? row("Note", "the reconciler has not seen the latest change yet")
        : []),
    );
    if (percentInput.value === "") percentInput.placeholder = String(v.percent);
    drawTiles(v.tiles);
    podsNote.textContent =
      v.podsFrom === "status"
        ? "Pods as last recorded in the rollout's status (the pods cannot be watched with your permissions)."
        : "";
    wavesNote.textContent = `${v.wavesCompleted} wave(s) completed for this revision${v.wavesUnseen > 0 ? `; ${v.wavesUnseen} finished before this dashboard started and are not timed` : ""}.`;
    waves.replaceChildren(
      ...[...v.waves]
        .reverse()
        .map((w) =>
          el(
            "tr",
            {},
            el("td", {}, String(w.number)),
            el("td", {}, w.direction),
            el("td", {}, String(w.pods)),
            el("td", {}, clock(w.startedAt)),
            el(
              "td",
              { "data-from": w.startedAt, "data-to": w.completedAt ?? "" },
              w.completedAt ? duration(w.startedAt, w.completedAt) : `${duration(w.startedAt)} (in flight)`,
            ),
          ),
        ),
    );
    events.replaceChildren(
      ...(v.events.length === 0 ? [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No events."))] : []),
      ...[...v.events]
        .reverse()
        .map((e) =>
          el(
            "tr",
            { class: e.type, "data-reason": e.reason },
            el("td", {}, clock(e.time)),
            el("td", {}, e.type),
            el("td", {}, e.reason, e.count > 1 ? ` ×${e.count}` : ""),
            el("td", {}, e.message),
          ),
        ),
    );
    history.replaceChildren(
      ...(v.history.length === 0
        ? [el("tr", {}, el("td", { colspan: 10, class: "muted" }, "No rollouts recorded yet."))]
        : []),
      ...v.history.map((h) =>
        el(
          "tr",
          {},
          el("td", {}, new Date(h.startedAt).toLocaleString()),
          el("td", {}, duration(h.startedAt, h.finishedAt) + (h.finishedAt ? "" : "+")),
          el(
            "td",
            {},
            el(
              "span",
              {
                class: `badge ${h.outcome === "Done" ? "RolloutDone" : h.outcome === "Failed" ? "RolloutFailed" : "Progressing"}`,
              },
              h.outcome,
            ),
          ),
          el("td", {}, h.trigger),
          el("td", {}, h.fromRevision ? `${h.fromRevision} → ${h.toRevision}` : h.toRevision),
          el("td", {}, h.toImage ?? "-"),
          el("td", {}, h.percent === undefined ? "-" : `${h.percent}%`),
          el("td", {}, String(h.waves)),
          el("td", {}, h.identity ?? "-"),
          el("td", { class: "muted" }, h.reason ?? ""),
        ),
      ),
    );
  }

  // --- actions: preview, confirm, apply ---------------------------------------------------
  const VERBS = { pause: "Pause", resume: "Resume", promote: "Promote", rollback: "Roll back", retry: "Retry" };

  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Bulkhead-Dashboard": "1" },
      body: JSON.stringify(body),
    });
    return res.json();
  }

  async function act(action, percent) {
    const request = {
      namespace: r.namespace,
      name: r.name,
      action,
      ...(percent === undefined || Number.isNaN(percent) ? {} : { percent }),
    };
    const preview = await post("/api/actions/preview", request).catch((err) => ({ ok: false, error: String(err) }));
    const title = document.getElementById("confirm-title");
    const body = document.getElementById("confirm-body");
    const ok = document.getElementById("confirm-ok");
    const cancel = document.getElementById("confirm-cancel");
    title.textContent = `${VERBS[action]} ${r.namespace}/${r.name}`;
    if (!preview.ok) {
      body.replaceChildren(
        el("p", {}, preview.refused ? "Refused:" : "Cannot do that:"),
        el("p", { class: "refused", id: "confirm-refusal" }, preview.error),
      );
      ok.hidden = true;
      cancel.textContent = "Close";
    } else {
      body.replaceChildren(
        el("p", {}, "This will change:"),
        el(
          "ul",
          { id: "confirm-changes" },
          preview.changes.map((c) => el("li", {}, c)),
        ),
        ...(preview.notes.length
          ? [
              el("p", {}, "Note:"),
              el(
                "ul",
                {},
                preview.notes.map((n) => el("li", {}, n)),
              ),
            ]
          : []),
      );
      ok.hidden = false;
      ok.textContent = VERBS[action];
      cancel.textContent = "Cancel";
      ok.onclick = async () => {
        ok.disabled = true;
        const result = await post("/api/actions/apply", { ...preview.request, expect: preview.changes }).catch(
          (err) => ({ ok: false, error: String(err) }),
        );
        ok.disabled = false;
        if (result.ok) {
          dialog.close();
          showToast(`${VERBS[action]}: ${result.changes.join("; ")}`);
        } else {
          body.replaceChildren(
            el("p", {}, result.refused ? "Refused:" : "Failed:"),
            el("p", { class: "refused", id: "confirm-refusal" }, result.error),
          );
          ok.hidden = true;
          cancel.textContent = "Close";
        }
      };
    }
    cancel.onclick = () => dialog.close();
    dialog.showModal();
    (ok.hidden ? cancel : ok).focus();
  }

  return {
    draw,
    tick() {
      if (current)
        for (const td of waves.querySelectorAll("td[data-from]"))
          if (!td.dataset.to) td.textContent = `${duration(td.dataset.from)} (in flight)`;
    },
  };
}

navigate();
