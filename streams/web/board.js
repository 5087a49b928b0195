// Rasd live board: polls /api/board and renders it. Every value from the API
// goes into the page as text (textContent / text nodes), never as markup:
// posts and hashtags are attacker-controlled.
"use strict";

const POLL_MS = 4000;
const KINDS = {
  emerging: ["وسم صاعد", "Emerging hashtag"],
  counter_campaign: ["حملة مضادة", "Counter-campaign"],
  outage: ["انقطاع منصة", "Platform outage"],
  ingest_stall: ["توقف الاستقبال", "Ingest stall"],
  fragmentation: ["تشتت الوسم", "Hashtag fragmentation"],
};
const SEVERITIES = { critical: "حرج", warning: "تحذير", info: "معلومة" };
const STATUSES = { firing: "نشط", resolved: "انتهى" };
const SIGNALS = {
  posts_per_author: "منشورات لكل حساب",
  young_accounts: "حسابات حديثة",
  near_duplicates: "نصوص شبه مكررة",
  synchronized: "نشر متزامن",
  identical_tag_sets: "مجموعات وسوم متطابقة",
  repost_ring: "حلقة إعادة نشر",
};
const MUTE_CHOICES = [[15, "١٥ دقيقة"], [60, "ساعة"], [240, "٤ ساعات"], [1440, "يوم"]];
const SHOWN_EVIDENCE = new Set(["sample_posts", "sample_post_ids", "top_authors", "driving_accounts",
  "top_variants", "authors_per_minute", "signals", "tripped", "templates"]);

const numbers = new Intl.NumberFormat("ar-IQ-u-nu-latn", { maximumFractionDigits: 1 });
const times = new Intl.DateTimeFormat("ar-IQ-u-nu-latn", {
  dateStyle: "short", timeStyle: "short", timeZone: "Asia/Baghdad" });

const state = { kind: null, board: null, detailId: null, platformHistory: {}, failures: 0 };

// -- DOM helpers -----------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "style") Object.assign(node.style, value);  // CSSOM: allowed by the page's CSP
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren();
  return append(node, children);
}

// a tag (Latin or Arabic) isolated from the surrounding right-to-left text
const tag = (text) => el("bdi", { class: "tag" }, text);
const num = (value) => (value === null || value === undefined ? "—" : numbers.format(value));
const when = (iso) => (iso ? times.format(new Date(iso)) : "—");
const kindLabel = (kind) => (KINDS[kind] || [kind, kind]);

function sparkline(values, { width = 110, height = 28, expected = null, cls = "spark" } = {}) {
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", cls);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", values.map((v) => numbers.format(v)).join("، "));
  if (!values.length) return svg;
  const top = Math.max(...values, expected || 0, 1);
  const y = (v) => (height - 2 - (v / top) * (height - 4)).toFixed(1);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  if (expected !== null) {
    const line = document.createElementNS(svgNS, "line");
    for (const [k, v] of [["x1", 0], ["x2", width], ["y1", y(expected)], ["y2", y(expected)]]) line.setAttribute(k, v);
    svg.append(line);
  }
  const line = document.createElementNS(svgNS, "polyline");
  // right-to-left page: time runs from right (oldest) to left (newest)
  line.setAttribute("points", values.map((v, i) => `${(width - i * step).toFixed(1)},${y(v)}`).join(" "));
  svg.append(line);
  return svg;
}

// -- API -------------------------------------------------------------------------
async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

async function poll() {
  try {
    state.board = await api("/api/board");
    state.failures = 0;
    render(state.board);
    if (state.detailId) await renderDetail(state.detailId);
  } catch (error) {
    state.failures += 1;
    const status = fill("status", `تعذّر الاتصال بالخادم (${error.message})`);
    status.classList.add("stale");
    status.title = "The worker did not answer; retrying";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// -- main board ------------------------------------------------------------------
function render(board) {
  const status = fill("status", "آخر تحديث ", when(board.now),
    board.last_post_seconds_ago === null ? "" : ` · آخر منشور قبل ${num(board.last_post_seconds_ago)} ث`);
  status.classList.remove("stale");
  status.title = "Last update; seconds since the last post arrived";
  renderKinds(board.firing_by_kind);
  renderAlerts(board.firing, board.resolved);
  renderTrending(board.trending);
  renderPlatforms(board.platforms);
}

function renderKinds(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const chip = (kind, label, title, count) => el("button", {
    type: "button", class: "chip", title, "aria-pressed": String(state.kind === kind),
    onclick: () => { state.kind = kind; render(state.board); },
  }, label, el("span", { class: "count" }, num(count)));
  fill("kinds", chip(null, "الكل", "All kinds", total),
    Object.keys(KINDS).map((kind) => chip(kind, kindLabel(kind)[0], kindLabel(kind)[1], counts[kind] || 0)));
}

function alertItem(alert) {
  const muted = alert.mute && alert.mute.muted;
  const acked = alert.mute && alert.mute.acked;
  const [kindAr, kindEn] = kindLabel(alert.kind);
  return el("li", {}, el("button", {
    type: "button", class: `alert sev-${alert.severity}${muted ? " is-muted" : ""}`,
    "data-id": alert.id, "data-kind": alert.kind, onclick: () => openDetail(alert.id),
  },
  el("span", { class: "line1" },
    el("span", { class: `badge sev-${alert.severity}` }, SEVERITIES[alert.severity] || alert.severity),
    el("span", { class: "badge kind", title: kindEn }, kindAr),
    el("span", { class: "subject" }, tag(alert.subject)),
    alert.status === "resolved" ? el("span", { class: "badge resolved" }, STATUSES.resolved) : null,
    muted ? el("span", { class: "badge mute", title: "Muted: not sent to Alertmanager" }, "مكتوم") : null,
    acked ? el("span", { class: "badge ack", title: `Acknowledged by ${alert.mute.acked_by}` },
      "تم الاستلام") : null),
  el("span", { class: "facts" }, `بدأ ${when(alert.started_at)} · الفعلي ${num(alert.observed)} مقابل المتوقع `,
    `${num(alert.expected)} · الدرجة ${num(alert.score)}`),
  el("p", { class: "summary", dir: "auto" }, alert.summary)));
}

function renderAlerts(firing, resolved) {
  const shown = firing.filter((a) => state.kind === null || a.kind === state.kind);
  fill("alerts", shown.map(alertItem));
  document.getElementById("alerts-empty").hidden = shown.length > 0;
  fill("resolved", resolved.map(alertItem));
}

function renderTrending(trending) {
  fill("trending-at", trending.at ? `(${when(trending.at)})` : "");
  fill("trending", trending.items.map((row) => el("tr", { class: row.firing ? "firing" : null, "data-key": row.key },
    el("td", { class: "num" }, num(row.rank)),
    el("td", {}, tag(row.subject)),
    el("td", { class: "col-spark" }, sparkline(row.sparkline, { expected: row.expected })),
    el("td", { class: "num" }, `${num(row.observed)} / ${num(row.expected)}`),
    el("td", { class: "num" }, num(row.score)))));
  document.getElementById("trending-empty").hidden = trending.items.length > 0;
}

function renderPlatforms(platforms) {
  fill("platforms", platforms.map((p) => {
    const history = (state.platformHistory[p.platform] ||= []);
    history.push(p.observed);
    if (history.length > 60) history.shift();
    const top = Math.max(p.observed, p.expected, 1) * 1.1;
    const low = p.expected >= 5 && p.observed < 0.5 * p.expected;
    return el("li", { class: `platform${low ? " low" : ""}`, "data-platform": p.platform },
      el("div", { class: "name" }, el("strong", {}, tag(p.platform)),
        el("span", { class: "num", title: "posts/min observed / expected" },
          `${num(p.observed)} / ${num(p.expected)} منشور/د`)),
      el("div", { class: "bars", role: "img", "aria-label": `الفعلي ${num(p.observed)}، المتوقع ${num(p.expected)}` },
        el("span", { class: "observed", style: { width: `${(100 * p.observed / top).toFixed(1)}%` } }),
        el("span", { class: "expected", style: { insetInlineStart: `${(100 * p.expected / top).toFixed(1)}%` } })));
  }));
  document.getElementById("platforms-empty").hidden = platforms.length > 0;
}

// -- alert details ---------------------------------------------------------------
function openDetail(id) {
  if (location.hash !== `#alert/${encodeURIComponent(id)}`) location.hash = `alert/${encodeURIComponent(id)}`;
  else showDetail(id);
}

function closeDetail() {
  state.detailId = null;
  document.getElementById("detail").hidden = true;
  document.getElementById("backdrop").hidden = true;
  if (location.hash) history.replaceState(null, "", location.pathname);
}

async function showDetail(id) {
  state.detailId = id;
  document.getElementById("detail").hidden = false;
  document.getElementById("backdrop").hidden = false;
  fill("detail-title", "…");
  fill("detail-body");
  await renderDetail(id);
  document.getElementById("detail-close").focus();
}

async function renderDetail(id) {
  let alert;
  try {
    alert = await api(`/api/alerts/${encodeURIComponent(id)}`);
  } catch (error) {
    fill("detail-body", el("p", { class: "notice error" }, `تعذّر تحميل التنبيه: ${error.message}`));
    return;
  }
  if (state.detailId !== id) return;
  const body = document.getElementById("detail-body");
  // keep what the operator is typing across refreshes
  const typing = body.contains(document.activeElement) && document.activeElement.matches("input, select");
  if (typing) return;
  const [kindAr, kindEn] = kindLabel(alert.kind);
  fill("detail-title", el("span", { title: kindEn }, kindAr), " ", tag(alert.subject));
  const ev = alert.evidence || {};
  fill("detail-body",
    el("p", {}, el("span", { class: `badge sev-${alert.severity}` }, SEVERITIES[alert.severity] || alert.severity), " ",
      el("span", { class: "badge kind" }, STATUSES[alert.status] || alert.status), " ",
      el("span", { class: "muted", dir: "ltr" }, alert.id)),
    section("لماذا أُطلق التنبيه", "Why it fired",
      el("p", { dir: "auto", class: "why" }, alert.summary),
      el("dl", { class: "facts-grid" },
        fact("الفعلي", "Observed", num(alert.observed)),
        fact("المتوقع", "Expected", num(alert.expected)),
        fact("الدرجة", "Score", num(alert.score)),
        fact("بدأ", "Started", when(alert.started_at)),
        alert.resolved_at ? fact("انتهى", "Resolved", when(alert.resolved_at)) : null),
      signalsTable(ev.signals)),
    actions(alert),
    section("الخط الزمني", "Timeline",
      ev.authors_per_minute && ev.authors_per_minute.length
        ? sparkline(ev.authors_per_minute.map((p) => p[1]), { width: 600, height: 120, expected: alert.expected, cls: "chart" })
        : null,
      el("ol", { class: "timeline" }, (alert.timeline || []).map((t) =>
        el("li", {}, `${STATUSES[t.status] || t.status} — ${when(t.at)} · الدرجة ${num(t.score)} · الفعلي ${num(t.observed)}`)))),
    variants(ev.top_variants, alert.variant_group, ev.cotags),
    accounts(ev.driving_accounts || ev.top_authors),
    samplePosts(ev.sample_posts, ev.templates, ev.sample_post_ids),
    otherEvidence(ev),
    grafana(alert.grafana_url));
}

const section = (title, tooltip, ...children) =>
  el("section", {}, el("h3", { title: tooltip }, title), ...children);
const fact = (label, tooltip, value) => el("div", { title: tooltip }, el("dt", {}, label), el("dd", {}, value));

function signalsTable(signals) {
  if (!signals || !Object.keys(signals).length) return null;
  return el("table", { class: "rows signals" },
    el("thead", {}, el("tr", {}, el("th", {}, "المؤشر"), el("th", {}, "القيمة"), el("th", {}, "العتبة"))),
    el("tbody", {}, Object.entries(signals).map(([name, s]) => el("tr", { class: s.tripped ? "tripped" : null },
      el("td", { title: name }, SIGNALS[name] || name, s.tripped ? " ✔" : ""),
      el("td", { class: "num" }, num(s.value)), el("td", { class: "num" }, num(s.threshold))))));
}

function variants(topVariants, group, cotags) {
  const rows = (group && group.variants) || topVariants || [];
  if (!rows.length && !(cotags && cotags.length)) return null;
  return section("المتغيرات", "Spellings of the tag (variants) and co-occurring tags",
    el("ul", {}, rows.map((v) => el("li", {}, tag(v.tag), ` — ${num(v.posts ?? v.count)}`,
      v.share !== undefined ? ` (${num(100 * v.share)}٪)` : ""))),
    cotags && cotags.length ? el("p", {}, "وسوم مرافقة: ", cotags.map((c, i) => [i ? "، " : "", tag(c.tag)])) : null);
}

function accounts(rows) {
  if (!rows || !rows.length) return null;
  return section("الحسابات المحركة", "Driving accounts",
    el("ol", {}, rows.map((a) => el("li", {}, tag(a.author), ` — ${num(a.posts)} منشور`))));
}

function samplePosts(posts, templates, ids) {
  const items = (posts || []).map((p) => el("li", { class: "post" },
    el("div", { class: "who" }, tag(p.author), " · ", el("bdi", {}, p.id)),
    el("p", { class: "text", dir: "auto" }, p.text)));
  const patterns = (templates || []).map((t) => el("li", { class: "post template" },
    el("div", { class: "who" }, `نص مكرر: ${num(t.posts)} منشور من ${num(t.accounts)} حساب`),
    el("p", { class: "text", dir: "auto" }, t.text)));
  if (!items.length && !patterns.length && !(ids && ids.length)) return null;
  return section("نماذج من المنشورات", "Sample posts",
    el("ul", { class: "posts" }, items, patterns),
    !items.length && ids && ids.length ? el("p", { class: "muted" }, "معرّفات: ", ids.join("، ")) : null);
}

function otherEvidence(ev) {
  const rest = Object.fromEntries(Object.entries(ev).filter(([k]) => !SHOWN_EVIDENCE.has(k)));
  if (!Object.keys(rest).length) return null;
  return el("details", {}, el("summary", { title: "Other evidence (raw)" }, "أدلة أخرى"),
    el("pre", { class: "kv" }, JSON.stringify(rest, null, 2)));
}

function grafana(url) {
  if (!url || !/^https?:\/\//.test(url)) return null;
  return el("p", {}, el("a", { href: url, target: "_blank", rel: "noopener noreferrer", title: "Grafana" },
    "فتح لوحة Grafana لهذه الفترة ↗"));
}

function actions(alert) {
  const mute = alert.mute || {};
  const by = el("input", { id: "act-by", type: "text", maxlength: "64", autocomplete: "name",
    placeholder: "اسمك", "aria-label": "اسمك", value: localStorage.getItem("rasd-by") || "" });
  const minutes = el("select", { id: "act-minutes", "aria-label": "مدة الكتم" },
    MUTE_CHOICES.map(([m, label]) => el("option", { value: String(m) }, label)));
  const notice = el("p", { class: "notice", role: "status" },
    mute.muted ? `مكتوم حتى ${when(new Date(mute.muted_until * 1000).toISOString())} (${mute.muted_by || "—"})` : "",
    mute.acked ? ` · استلمه ${mute.acked_by || "—"} ${when(new Date(mute.acked_at * 1000).toISOString())}` : "");
  const act = (action, payload) => async () => {
    localStorage.setItem("rasd-by", by.value);
    try {
      await api(`/api/alerts/${encodeURIComponent(alert.id)}/${action}`, { by: by.value, ...payload });
      document.activeElement.blur();
      await renderDetail(alert.id);
      state.board = await api("/api/board");
      render(state.board);
    } catch (error) {
      notice.className = "notice error";
      notice.textContent = `لم يتم: ${error.message}`;
    }
  };
  return section("الإجراءات", "Acknowledge / mute (a muted alert is not sent to Alertmanager)",
    el("div", { class: "actions" },
      el("div", { class: "row" }, by,
        el("button", { type: "button", class: "btn secondary", id: "act-ack", onclick: act("ack", {}) }, "تأكيد الاستلام")),
      el("div", { class: "row" }, minutes,
        mute.muted
          ? el("button", { type: "button", class: "btn", id: "act-unmute", onclick: act("unmute", {}) }, "إلغاء الكتم")
          : el("button", { type: "button", class: "btn", id: "act-mute",
            onclick: () => act("mute", { minutes: Number(minutes.value) })() }, "كتم")),
      notice));
}

// -- start -----------------------------------------------------------------------
function route() {
  const match = location.hash.match(/^#alert\/(.+)$/);
  if (match) showDetail(decodeURIComponent(match[1]));
  else if (state.detailId) closeDetail();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("detail-close").addEventListener("click", closeDetail);
  document.getElementById("backdrop").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.detailId) closeDetail(); });
  window.addEventListener("hashchange", route);
  route();
  poll();
});
