// hetsim dashboard renderer: builds the page's form from its spec, posts the form to
// /api/<page>, and renders the returned view (cards, Plotly figures, sortable tables).
// The static HTML report runs the same code with the form left out.
(function () {
  "use strict";
  const spec = JSON.parse(document.getElementById("hetsim-spec").textContent);
  const body = document.body;
  const uploads = {};
  const drawn = new Map(); // figure id -> the JSON it was last drawn from
  let seq = 0, queued = 0, pending = null, started = 0, inflight = 0;
  window.hetsimTimings = [];

  const MS = 1e-3, US = 1e-6, NS = 1e-9;
  function fmtTime(t) {
    if (t >= 1) return t.toFixed(3) + " s";
    if (t >= MS) return (t / MS).toFixed(2) + " ms";
    if (t >= US) return (t / US).toFixed(2) + " µs";
    return (t / NS).toFixed(1) + " ns";
  }
  function fmtBytes(n) {
    const units = [["TB", 1e12], ["GB", 1e9], ["MB", 1e6], ["kB", 1e3]];
    for (const [u, s] of units) if (Math.abs(n) >= s) return (n / s).toFixed(2) + " " + u;
    return n.toFixed(0) + " B";
  }
  function fmt(v, kind) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v !== "number") return String(v);
    switch (kind) {
      case "time": return fmtTime(v);
      case "bytes": return fmtBytes(v);
      case "pct": return (100 * v).toFixed(1) + "%";
      case "int": return Math.round(v).toLocaleString("en-US");
      case "sci": return v === 0 ? "0" : v.toExponential(3);
      case "x": return v.toFixed(2) + "×";
      case "float": return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
      default: return String(v);
    }
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- form -------------------------------------------------------------------------
  function buildForm(fields) {
    const form = document.getElementById("form");
    const groups = {};
    for (const f of fields) {
      const g = f.group || f.name;
      if (!groups[g]) { groups[g] = el("fieldset", { "data-group": g }); groups[g].appendChild(el("legend", {}, g)); form.appendChild(groups[g]); }
      const wrap = el("label", { class: "field field-" + f.kind });
      const cap = el("span", { class: "caption" }, f.label);
      let input;
      if (f.kind === "select") {
        input = el("select", { name: f.name, id: "in-" + f.name });
        for (const o of f.options) input.appendChild(el("option", { value: o }, o === "" ? f.blank : o));
        input.value = f.default;
      } else if (f.kind === "checkbox") {
        input = el("input", { type: "checkbox", name: f.name, id: "in-" + f.name });
        input.checked = !!f.default;
      } else if (f.kind === "file") {
        input = el("input", { type: "file", name: f.name, id: "in-" + f.name, accept: f.accept || "" });
      } else {
        input = el("input", { type: f.kind === "number" ? "number" : "text", name: f.name, id: "in-" + f.name, min: "1", step: "1" });
        input.value = f.default;
      }
      if (f.kind === "checkbox") { wrap.appendChild(input); wrap.appendChild(cap); } else { wrap.appendChild(cap); wrap.appendChild(input); }
      if (f.help) wrap.appendChild(el("small", {}, f.help));
      if (f.kind === "file") {
        const clear = el("button", { type: "button", class: "clear", id: "clear-" + f.name, hidden: "" }, "remove upload");
        clear.addEventListener("click", () => { delete uploads[f.name]; input.value = ""; clear.hidden = true; schedule(); });
        wrap.appendChild(clear);
        input.addEventListener("change", () => {
          const file = input.files[0];
          if (!file) { delete uploads[f.name]; clear.hidden = true; schedule(); return; }
          // the file goes to the dashboard once; the form then names it by the id it was given
          file.text().then(async (text) => {
            let reply;
            try {
              const res = await fetch("/api/upload", { method: "POST", headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ name: file.name, text: text }) });
              reply = await res.json();
            } catch (err) {
              reply = { error: "the dashboard did not answer (" + err + ")" };
            }
            if (!reply.id) { delete uploads[f.name]; input.value = ""; render({ error: reply.error }); return; }
            uploads[f.name] = reply.id; clear.hidden = false; schedule();
          });
        });
      } else {
        input.addEventListener(f.kind === "number" || f.kind === "text" ? "input" : "change", schedule);
      }
      groups[g].appendChild(wrap);
    }
  }
  // The form's state lives in the URL (?batch=8&hardware=h100-sxm), so a view can be
  // bookmarked and shared; opening such a URL restores the form and draws its view.
  function fromUrl(fields) {
    const params = new URLSearchParams(window.location.search);
    let any = false;
    for (const f of fields) {
      if (f.kind === "file" || !params.has(f.name)) continue;
      const input = document.getElementById("in-" + f.name);
      const v = params.get(f.name);
      if (f.kind === "checkbox") input.checked = v === "1" || v === "true";
      else if (f.kind === "select" && !f.options.includes(v)) continue;
      else input.value = v;
      any = true;
    }
    return any;
  }
  function toUrl(vals) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(vals)) params.set(k, typeof v === "boolean" ? (v ? "1" : "0") : String(v));
    history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  }
  function values() {
    const out = {};
    for (const f of spec.fields) {
      if (f.kind === "file") continue;
      const input = document.getElementById("in-" + f.name);
      out[f.name] = f.kind === "checkbox" ? input.checked : input.value;
    }
    return out;
  }
  // Typing waits for a pause (one request per number, not per keystroke); a select,
  // checkbox or upload updates at once.
  function schedule(ev) {
    if (!started) started = performance.now();
    clearTimeout(pending);
    pending = setTimeout(update, ev && ev.type === "input" ? 80 : 0);
  }
  async function update() {
    const t0 = started; started = 0;
    const mine = ++inflight;
    body.dataset.state = "busy";
    let reply;
    const tSend = performance.now();
    try {
      const vals = values();
      toUrl(vals);
      const res = await fetch("/api/" + spec.page, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ values: vals, uploads: uploads }) });
      reply = await res.json();
    } catch (err) {
      reply = { error: "the dashboard did not answer (" + err + "); is `hetsim dashboard` still running?" };
    }
    if (mine !== inflight) return; // a newer request is on its way
    const tReply = performance.now();
    render(reply.view || { error: reply.error });
    const tDone = performance.now();
    // input event -> view drawn; the request (server + transfer); the drawing
    window.hetsimTimings.push({ seq: seq, ms: tDone - t0, request_ms: tReply - tSend, draw_ms: tDone - tReply });
  }

  // ---- view -------------------------------------------------------------------------
  function renderCards(cards) {
    const box = document.getElementById("cards");
    box.replaceChildren();
    for (const c of cards) {
      const card = el("div", { class: "card " + (c.tone || ""), "data-key": c.key, "data-value": JSON.stringify(c.value) });
      card.appendChild(el("div", { class: "label" }, c.label));
      card.appendChild(el("div", { class: "value" }, c.text));
      box.appendChild(card);
    }
  }
  function renderFigures(figs) {
    const box = document.getElementById("figures");
    const keep = new Set(figs.map((f) => "fig-" + f.id));
    for (const old of Array.from(box.children)) if (!keep.has(old.dataset.fig)) { Plotly.purge(old.querySelector(".plot")); drawn.delete(old.dataset.fig.slice(4)); old.remove(); }
    // Lay out every figure box first, then draw, so each plot is drawn at its final width.
    const wraps = figs.map((f) => {
      let wrap = box.querySelector('[data-fig="fig-' + f.id + '"]');
      if (!wrap) {
        wrap = el("figure", { "data-fig": "fig-" + f.id, class: "figure" });
        wrap.appendChild(el("h3", {}));
        wrap.appendChild(el("div", { class: "plot", id: "fig-" + f.id }));
        wrap.appendChild(el("figcaption", {}));
      }
      box.appendChild(wrap); // (re)appended in the view's order
      return wrap;
    });
    figs.forEach((f, i) => {
      const wrap = wraps[i];
      wrap.querySelector("h3").textContent = f.title;
      wrap.querySelector("figcaption").textContent = f.caption || "";
      const plot = wrap.querySelector(".plot");
      const json = JSON.stringify([f.data, f.layout]);
      if (drawn.get(f.id) === json) return; // unchanged: keep the drawn plot (and its zoom)
      drawn.set(f.id, json);
      plot.style.height = (f.layout.height || 420) + "px";
      Plotly.react(plot, f.data, f.layout, { responsive: true, displaylogo: false });
    });
  }
  function csvOf(t) {
    const q = (v) => { const s = v === null || v === undefined ? "" : String(v); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
    return [t.columns.map((c) => q(c.key)).join(",")].concat(t.rows.map((r) => r.map(q).join(","))).join("\n") + "\n";
  }
  function renderTables(tables) {
    const box = document.getElementById("tables");
    box.replaceChildren();
    for (const t of tables) {
      const sec = el("div", { class: "table", "data-table": t.id });
      const head = el("div", { class: "table-head" });
      head.appendChild(el("h3", {}, t.title));
      const dl = el("a", { class: "download", download: t.id + ".csv", href: "data:text/csv;charset=utf-8," + encodeURIComponent(csvOf(t)) }, "download CSV");
      head.appendChild(dl);
      sec.appendChild(head);
      if (t.caption) sec.appendChild(el("p", { class: "caption" }, t.caption));
      const table = el("table", { id: "table-" + t.id });
      const tr = el("tr");
      t.columns.forEach((c, i) => {
        const th = el("th", { "data-col": c.key, title: "sort by " + c.label }, c.label);
        th.addEventListener("click", () => sortBy(table, t, i, th));
        tr.appendChild(th);
      });
      table.appendChild(el("thead")).appendChild(tr);
      table.appendChild(el("tbody"));
      fillRows(table, t, t.rows);
      const scroll = el("div", { class: "scroll" });
      scroll.appendChild(table);
      sec.appendChild(scroll);
      box.appendChild(sec);
    }
  }
  function fillRows(table, t, rows) {
    const tb = table.querySelector("tbody");
    tb.replaceChildren();
    for (const r of rows) {
      const tr = el("tr");
      r.forEach((v, i) => tr.appendChild(el("td", { "data-value": JSON.stringify(v), class: typeof v === "number" ? "num" : "" }, fmt(v, t.columns[i].fmt))));
      tb.appendChild(tr);
    }
  }
  function sortBy(table, t, i, th) {
    const desc = th.dataset.sort !== "desc";
    table.querySelectorAll("th").forEach((h) => delete h.dataset.sort);
    th.dataset.sort = desc ? "desc" : "asc";
    const rows = t.rows.slice().sort((a, b) => {
      const x = a[i], y = b[i];
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return desc ? -c : c;
    });
    fillRows(table, t, rows);
  }
  function render(view) {
    const err = document.getElementById("error");
    err.hidden = !view.error;
    err.textContent = view.error ? "error: " + view.error : "";
    document.getElementById("view-title").textContent = view.title || "";
    const notes = document.getElementById("notes");
    notes.replaceChildren(...(view.notes || []).map((n) => el("li", {}, n)));
    renderCards(view.cards || []);
    renderTables(view.tables || []);
    body.dataset.numbers = "shown"; // cards and tables need no Plotly
    if (window.hetsimNumbersMs === undefined) window.hetsimNumbersMs = performance.now();
    const mine = ++queued;
    whenPlotly(() => {
      if (mine !== queued) return; // a newer view is waiting to be drawn
      renderFigures(view.figures || []);
      seq += 1;
      body.dataset.seq = String(seq);
      body.dataset.state = view.error ? "error" : "ready";
      if (window.hetsimFirstRenderMs === undefined) window.hetsimFirstRenderMs = performance.now();
    });
  }
  // plotly.min.js (4.6 MB) loads after this script: the numbers show while it compiles.
  function whenPlotly(fn) {
    if (window.Plotly) { fn(); return; }
    if (document.readyState === "complete") {
      const err = document.getElementById("error");
      err.hidden = false;
      err.textContent = "error: plotly.min.js did not load, so the figures cannot be drawn";
      return;
    }
    window.addEventListener("load", () => whenPlotly(fn), { once: true });
  }

  if (!spec.static) buildForm(spec.fields);
  render(spec.view);
  if (!spec.static && fromUrl(spec.fields)) schedule(); // a bookmarked state: draw its view
})();
