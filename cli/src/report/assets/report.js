// sweepctl report: draws the sweep whose data is in #sweep-data.
// Plain JavaScript and SVG, no library and no network: the page must open
// from disk on an air-gapped machine. The numbers come worked out from
// sweepctl (data.rs, importance.rs); this script only draws them.
(function () {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("sweep-data").textContent);
  const root = document.getElementById("report");
  const metric = data.sweep.metric;
  const minimize = !metric || metric.goal === "minimize";

  window.addEventListener("error", function (e) {
    document.body.dataset.error = String(e.message);
  });

  // ---- small helpers --------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    setAll(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, children) {
    const node = document.createElementNS(NS, tag);
    setAll(node, attrs);
    append(node, children);
    return node;
  }

  function setAll(node, attrs) {
    for (const key in attrs || {}) {
      if (attrs[key] !== undefined && attrs[key] !== null) node.setAttribute(key, attrs[key]);
    }
  }

  function append(node, children) {
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }

  function fmt(x) {
    if (x === null || x === undefined) return "";
    if (!isFinite(x)) return String(x);
    const a = Math.abs(x);
    if (Number.isInteger(x) && a < 1e6) return String(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(3).replace(/\.?0+e/, "e");
    return String(Number(x.toPrecision(4)));
  }

  function duration(s) {
    if (s === null || s === undefined) return "";
    if (s < 59.95) return s.toFixed(1) + " s";
    s = Math.round(s);
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + String(s - m * 60).padStart(2, "0") + " s";
    const h = Math.floor(m / 60);
    return h + " h " + String(m - h * 60).padStart(2, "0") + " min";
  }

  // Math.min(...xs) overflows the stack for big arrays; these do not.
  function lowest(xs) {
    return xs.reduce((a, b) => (b < a ? b : a), Infinity);
  }

  function highest(xs) {
    return xs.reduce((a, b) => (b > a ? b : a), -Infinity);
  }

  function better(a, b) {
    return minimize ? a < b : a > b;
  }

  // Viridis, by its published anchor colours: dark = worst, yellow = best.
  const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

  function mix(c1, c2, t) {
    const p = (c, i) => parseInt(c.slice(1 + 2 * i, 3 + 2 * i), 16);
    const ch = (i) => Math.round(p(c1, i) + (p(c2, i) - p(c1, i)) * t);
    return "rgb(" + ch(0) + "," + ch(1) + "," + ch(2) + ")";
  }

  const metrics = data.runs.map((r) => r.metric).filter((m) => m !== null);
  const worst = metrics.length ? (minimize ? highest(metrics) : lowest(metrics)) : 0;
  const best = metrics.length ? (minimize ? lowest(metrics) : highest(metrics)) : 0;

  function colour(value) {
    if (value === null) return "#b0b0b0";
    const t = best === worst ? 1 : (value - worst) / (best - worst);
    const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
    return mix(VIRIDIS[i], VIRIDIS[i + 1], x - i);
  }

  // Runs from worst to best (no metric first): drawn in this order, the best lie on top.
  const byGoodness = data.runs.slice().sort(function (a, b) {
    if (a.metric === null) return b.metric === null ? a.run - b.run : -1;
    if (b.metric === null) return 1;
    return better(a.metric, b.metric) ? 1 : better(b.metric, a.metric) ? -1 : a.run - b.run;
  });
  const rank = new Map();
  byGoodness.slice().reverse().forEach(function (r, i) {
    if (r.metric !== null) rank.set(r.run, i);
  });

  // A scale over [lo, hi] onto [from, to] pixels, linear or log10. Every
  // input is survivable: no values (lo, hi not finite), one value, or values
  // a few ulps apart all get a span to draw on.
  function scale(lo, hi, log, from, to) {
    const f = log ? Math.log10 : (x) => x;
    let a = f(lo), b = f(hi);
    if (!isFinite(a) || !isFinite(b)) { a = 0; b = 1; }
    if (b - a <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-300)) {
      const pad = log ? 0.5 : Math.abs(a) > 0 ? Math.abs(a) * 0.1 : 1;
      a -= pad;
      b += pad;
    }
    const s = (x) => from + ((f(x) - a) / (b - a)) * (to - from);
    s.ticks = function () {
      const out = [];
      if (log) {
        for (let e = Math.ceil(a - 1e-9); e <= Math.floor(b + 1e-9) && out.length < 40; e++) out.push(Math.pow(10, e));
        return out.length >= 2 ? out : [Math.pow(10, a), Math.pow(10, b)];
      }
      const span = b - a;
      const mag = Math.pow(10, Math.floor(Math.log10(span / 5)));
      const step = [1, 2, 5, 10].map((k) => k * mag).find((k) => span / k <= 6);
      // An integer counter: `t += step` can stand still when step is below an ulp of t.
      for (let k = Math.ceil(a / step); k * step <= b + step * 1e-9 && out.length < 40; k++) {
        out.push(Number((k * step).toPrecision(12)));
      }
      return out;
    };
    s.invert = function (px) {
      const v = a + ((px - from) / (to - from)) * (b - a);
      return log ? Math.pow(10, v) : v;
    };
    return s;
  }

  function section(id, title, children) {
    return el("section", { id: id }, [el("h2", {}, title)].concat(children));
  }

  // ---- header ---------------------------------------------------------------

  function header() {
    const s = data.sweep;
    const facts = [s.id, s.method + " search", s.state + (s.reason ? " (" + s.reason + ")" : "")];
    if (metric) facts.push(metric.goal + " " + metric.name);
    if (s.run_cap !== null) facts.push("run_cap " + s.run_cap);
    if (s.seeds > 0) facts.push("seeded by " + s.seeds + " finished runs from elsewhere (" + s.imported + " imported), not shown as runs");
    const counts = s.counts.map(([state, n]) => el("span", { class: "chip state-" + state }, n + " " + state));
    const taken = s.active
      ? el("p", { class: "snapshot", id: "snapshot" }, [
        "A snapshot taken " + s.taken_at + ": the sweep is " + s.state +
        (s.waiting ? " (" + s.waiting + ")" : "") + ", so its numbers will change."])
      : el("p", { class: "taken", id: "snapshot" }, "Taken " + s.taken_at + "; the sweep was created " + s.created_at + ".");
    const objectives = data.front
      ? el("p", { class: "best-line" }, "Objectives: " + data.front.objectives.map((o) => o.name + " (" + o.goal + ")").join(", ") +
        "; " + data.front.points.filter((p) => p.on_front).length + " runs on the Pareto front.")
      : null;
    const bestLine = objectives || (data.best
      ? el("p", { class: "best-line" }, ["Best: run " + data.best.run + ", " + metric.name + " = ",
        el("strong", {}, fmt(data.best.value))])
      : el("p", { class: "best-line" }, metric ? "No run has logged " + metric.name + " yet." : "The sweep has no metric."));
    const constants = s.constants.length
      ? el("p", { class: "constants" }, "Fixed: " + s.constants.map(([k, v]) => k + " = " + v).join(", "))
      : null;
    return el("header", {}, [el("h1", {}, s.name), el("p", { class: "facts" }, facts.join(" · ")),
      taken, el("p", { class: "counts" }, counts), bestLine, constants]);
  }

  // ---- parallel coordinates -------------------------------------------------

  function parallel() {
    const axes = data.axes.slice();
    const hasMetric = metric && metrics.length > 0;
    const W = Math.max(760, 150 * (axes.length + (hasMetric ? 1 : 0)));
    const H = 440, top = 48, bottom = H - 30, left = 70, right = W - 70;
    const n = axes.length + (hasMetric ? 1 : 0);
    const xAt = (i) => (n === 1 ? (left + right) / 2 : left + (i * (right - left)) / (n - 1));
    const scales = axes.map(function (axis) {
      if (axis.kind === "categorical") {
        const k = axis.labels.length;
        const s = (v) => (k === 1 ? (top + bottom) / 2 : bottom - (v * (bottom - top)) / (k - 1));
        s.invert = (y) => (k === 1 ? 0 : ((bottom - y) * (k - 1)) / (bottom - top));
        return s;
      }
      const range = axis.range || [0, 1];
      return scale(range[0], range[1], axis.log, bottom, top);
    });
    if (hasMetric) {
      axes.push({ name: metric.name, kind: "metric" });
      scales.push(scale(lowest(metrics), highest(metrics), false, bottom, top));
    }
    const plot = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, class: "plot", id: "parallel-plot" });
    const lines = svg("g", { class: "lines" });
    plot.appendChild(lines);
    const byRun = new Map();
    for (const run of byGoodness) {
      const points = [];
      axes.forEach(function (axis, i) {
        const v = axis.kind === "metric" ? run.metric : run.values[i];
        if (v !== null && v !== undefined) points.push(xAt(i).toFixed(1) + "," + scales[i](v).toFixed(1));
      });
      const line = svg("polyline", {
        class: "run-line" + (run.stopped ? " stopped" : ""),
        points: points.join(" "),
        stroke: colour(run.metric),
        "data-run": run.run,
      }, [svg("title", {}, "run " + run.run + (run.metric !== null ? ": " + metric.name + " " + fmt(run.metric) : ""))]);
      lines.appendChild(line);
      byRun.set(run.run, { run: run, line: line });
    }
    const brushes = new Map();
    const marks = [];
    axes.forEach(function (axis, i) {
      const g = svg("g", { class: "axis", transform: "translate(" + xAt(i) + ",0)" });
      g.appendChild(svg("line", { y1: top, y2: bottom, class: "axis-line" }));
      const label = axis.name + (axis.log ? " (log)" : "");
      g.appendChild(svg("text", { y: top - 22, class: "axis-label" + (axis.kind === "metric" ? " metric" : "") }, label));
      const ticks = axis.kind === "categorical"
        ? axis.labels.map((l, k) => [k, l])
        : scales[i].ticks().map((t) => [t, fmt(t)]);
      for (const [v, text] of ticks) {
        const y = scales[i](v);
        g.appendChild(svg("line", { x1: -4, x2: 0, y1: y, y2: y, class: "tick" }));
        g.appendChild(svg("text", { x: -7, y: y + 4, class: "tick-label" }, text));
      }
      const band = svg("rect", { x: -8, y: top, width: 16, height: bottom - top, class: "brush-area" });
      const sel = svg("rect", { x: -7, width: 14, class: "brush", visibility: "hidden" });
      g.appendChild(band);
      g.appendChild(sel);
      marks.push(sel);
      let start = null;
      const yOf = (e) => Math.max(top, Math.min(bottom, e.clientY - plot.getBoundingClientRect().top));
      band.addEventListener("mousedown", function (e) { start = yOf(e); e.preventDefault(); });
      let dragged = 0;
      window.addEventListener("mousemove", function (e) {
        if (start === null) return;
        if (!(e.buttons & 1)) { finish(); return; }
        const y = yOf(e);
        const a = scales[i].invert(y), b = scales[i].invert(start);
        dragged = Math.abs(y - start);
        brushes.set(i, [Math.min(a, b), Math.max(a, b)]);
        drawBrush(i);
        filter(false);
      });
      // The button released (here, or outside the window): a click without a drag clears.
      function finish() {
        if (start === null) return;
        if (dragged < 2) { brushes.delete(i); sel.setAttribute("visibility", "hidden"); }
        start = null;
        dragged = 0;
        filter();
      }
      window.addEventListener("mouseup", finish);
      g.addEventListener("dblclick", function () { brushes.delete(i); sel.setAttribute("visibility", "hidden"); filter(); });
      plot.appendChild(g);
    });

    const shown = el("span", { class: "shown", id: "parallel-shown" });
    const choices = [["all", "all runs"], ["10", "top 10"], ["25", "top 25"], ["50", "top 50"],
      ["100", "top 100"], ["10%", "top 10 %"], ["25%", "top 25 %"]];
    const many = data.runs.length > 300;
    const pick = el("select", { id: "top-k" }, choices.map(([v, t]) => el("option", { value: v }, t)));
    pick.value = many ? "10%" : "all";
    const clear = el("button", { type: "button", id: "clear-brushes" }, "Clear axis filters");
    clear.addEventListener("click", function () {
      brushes.clear();
      plot.querySelectorAll(".brush").forEach((b) => b.setAttribute("visibility", "hidden"));
      filter();
    });
    pick.addEventListener("change", () => filter());

    // A brush is a range in the axis's own units (a label's index on a
    // categorical axis), so what it keeps does not depend on pixels.
    function drawBrush(i) {
      const [a, b] = brushes.get(i);
      const y1 = scales[i](b), y2 = scales[i](a);
      setAll(marks[i], { y: Math.min(y1, y2), height: Math.max(1, Math.abs(y2 - y1)), visibility: "visible" });
    }

    // The view lives in the address (#view=...), so a bookmarked or shared
    // link opens with the same runs shown: {"top": "10%", "brush": [[axis, from, to], ...]},
    // numbers on numeric axes, labels on categorical ones.
    function saveView() {
      const view = { top: pick.value, brush: [] };
      for (const [i, [a, b]] of brushes) {
        const axis = axes[i];
        if (axis.kind !== "categorical") {
          view.brush.push([axis.name, a, b]);
        } else if (Math.ceil(a - 1e-9) <= Math.floor(b + 1e-9)) {
          view.brush.push([axis.name, axis.labels[Math.ceil(a - 1e-9)], axis.labels[Math.floor(b + 1e-9)]]);
        }
      }
      try {
        history.replaceState(null, "", "#view=" + encodeURIComponent(JSON.stringify(view)));
      } catch (e) { /* a viewer without history keeps its view unsaved */ }
    }
    function loadView() {
      const m = /#view=(.*)$/.exec(location.hash);
      if (!m) return;
      let view;
      try { view = JSON.parse(decodeURIComponent(m[1])); } catch (e) { return; }
      if (!view || typeof view !== "object") return;
      if (choices.some(([v]) => v === view.top)) pick.value = view.top;
      for (const entry of Array.isArray(view.brush) ? view.brush : []) {
        if (!Array.isArray(entry) || entry.length !== 3) continue;
        const [name, from, to] = entry;
        const i = axes.findIndex((a) => a.name === name);
        if (i < 0) continue;
        const at = (x) => (axes[i].kind === "categorical" ? axes[i].labels.indexOf(String(x)) : Number(x));
        const a = at(from), b = at(to);
        if (!isFinite(a) || !isFinite(b) || (axes[i].kind === "categorical" && (a < 0 || b < 0))) continue;
        brushes.set(i, [Math.min(a, b), Math.max(a, b)]);
        drawBrush(i);
      }
    }
    loadView();

    function filter(save) {
      const k = pick.value === "all" ? Infinity
        : pick.value.endsWith("%") ? Math.max(1, Math.ceil((rank.size * parseFloat(pick.value)) / 100))
          : parseInt(pick.value, 10);
      let visible = 0;
      for (const { run, line } of byRun.values()) {
        let ok = k === Infinity || (rank.has(run.run) && rank.get(run.run) < k);
        for (const [i, [lo, hi]] of brushes) {
          const v = axes[i].kind === "metric" ? run.metric : run.values[i];
          if (v === null || v === undefined || v < lo || v > hi) ok = false;
        }
        line.classList.toggle("hidden", !ok);
        if (ok) visible++;
      }
      shown.textContent = visible + " of " + data.runs.length + " runs shown";
      // Not on every mouse move: browsers limit how often the address may change.
      if (save !== false) saveView();
    }
    filter(false);

    const controls = el("div", { class: "controls" }, [el("label", {}, ["Show ", pick]), clear, shown]);
    const help = el("p", { class: "help" },
      "One line per run, coloured by " + (metric ? metric.name + " (yellow is best)" : "run") +
      "; the best lie on top. Drag along an axis to keep only the runs passing through that range; double-click the axis to undo.");
    if (!axes.length) return section("parallel", "Parallel coordinates", [el("p", {}, "The sweep has no swept parameters.")]);
    return section("parallel", "Parallel coordinates", [controls, el("div", { class: "scroll" }, plot), help]);
  }

  // ---- parameter importance -------------------------------------------------

  function importance() {
    const imp = data.importance;
    if (!imp.rows.length) {
      return section("importance", "Parameter importance", [el("p", { class: "note" }, imp.note || "No importance.")]);
    }
    const rowH = 28, labelW = 180, barW = 260, corrW = 220, W = labelW + barW + 70 + corrW + 70;
    const H = 34 + rowH * imp.rows.length;
    const chart = svg("svg", { width: W, height: H, class: "plot", id: "importance-plot" });
    chart.appendChild(svg("text", { x: labelW, y: 16, class: "col-head" }, "importance"));
    chart.appendChild(svg("text", { x: labelW + barW + 70, y: 16, class: "col-head" }, "correlation with " + (metric ? metric.name : "the metric")));
    const maxImp = Math.max(highest(imp.rows.map((r) => r.importance)), 1e-12);
    const mid = labelW + barW + 70 + corrW / 2;
    chart.appendChild(svg("line", { x1: mid, x2: mid, y1: 24, y2: H, class: "zero" }));
    imp.rows.forEach(function (r, k) {
      const y = 28 + k * rowH;
      chart.appendChild(svg("text", { x: labelW - 8, y: y + 14, class: "bar-label" }, r.name));
      chart.appendChild(svg("rect", {
        x: labelW, y: y + 3, height: rowH - 10, width: Math.max(1, (r.importance / maxImp) * barW),
        class: "importance-bar", "data-parameter": r.name, "data-importance": r.importance,
      }, [svg("title", {}, r.name + ": importance " + r.importance.toFixed(3))]));
      chart.appendChild(svg("text", { x: labelW + (r.importance / maxImp) * barW + 6, y: y + 14, class: "bar-value" }, r.importance.toFixed(3)));
      if (r.correlation === null) {
        chart.appendChild(svg("text", { x: mid, y: y + 14, class: "bar-value none" }, "none (categorical or constant)"));
      } else {
        const w = Math.abs(r.correlation) * (corrW / 2);
        chart.appendChild(svg("rect", {
          x: r.correlation < 0 ? mid - w : mid, y: y + 3, height: rowH - 10, width: Math.max(1, w),
          class: "correlation-bar " + (r.correlation < 0 ? "negative" : "positive"), "data-parameter": r.name,
        }));
        chart.appendChild(svg("text", {
          x: r.correlation < 0 ? mid - w - 6 : mid + w + 6, y: y + 14,
          class: "bar-value" + (r.correlation < 0 ? " left" : ""),
        }, r.correlation.toFixed(2)));
      }
    });
    const text = "A random forest of 100 trees fitted on " + imp.runs + " runs (parameters → " + (metric ? metric.name : "metric") +
      "); importance is its mean decrease in impurity, summing to 1. Correlation is Pearson's r, on log10 for log-scaled parameters.";
    return section("importance", "Parameter importance", [el("div", { class: "scroll" }, chart),
      el("p", { class: "help" }, text), imp.note ? el("p", { class: "note" }, imp.note) : null]);
  }

  // ---- curves ---------------------------------------------------------------

  function lineChart(id, xLabel, yLabel, xs, ys) {
    const W = 760, H = 340, left = 70, right = W - 20, top = 16, bottom = H - 44;
    const x = scale(lowest(xs), highest(xs), false, left, right);
    const y = scale(lowest(ys), highest(ys), false, bottom, top);
    const chart = svg("svg", { width: W, height: H, class: "plot", id: id });
    chart.appendChild(svg("line", { x1: left, x2: right, y1: bottom, y2: bottom, class: "axis-line" }));
    chart.appendChild(svg("line", { x1: left, x2: left, y1: top, y2: bottom, class: "axis-line" }));
    for (const t of x.ticks()) {
      if (xs.every(Number.isInteger) && !Number.isInteger(t)) continue;
      chart.appendChild(svg("text", { x: x(t), y: bottom + 16, class: "tick-label middle" }, fmt(t)));
    }
    for (const t of y.ticks()) {
      chart.appendChild(svg("line", { x1: left, x2: right, y1: y(t), y2: y(t), class: "grid" }));
      chart.appendChild(svg("text", { x: left - 6, y: y(t) + 4, class: "tick-label" }, fmt(t)));
    }
    chart.appendChild(svg("text", { x: (left + right) / 2, y: H - 6, class: "axis-title" }, xLabel));
    chart.appendChild(svg("text", { x: 14, y: (top + bottom) / 2, class: "axis-title vertical", transform: "rotate(-90 14 " + (top + bottom) / 2 + ")" }, yLabel));
    return { chart: chart, x: x, y: y };
  }

  function curves() {
    if (!metric) return section("curves", "Curves", [el("p", { class: "note" }, "The sweep has no metric to draw.")]);
    const withCurves = byGoodness.filter((r) => r.curve.length > 0);
    const parts = [];
    if (withCurves.length) {
      const xs = withCurves.flatMap((r) => r.curve.map((p) => p[0]));
      const ys = withCurves.flatMap((r) => r.curve.map((p) => p[1]));
      const c = lineChart("curves-plot", "values logged (the n-th " + metric.name + ")", metric.name, xs, ys);
      for (const run of withCurves) {
        const pts = run.curve.map((p) => c.x(p[0]).toFixed(1) + "," + c.y(p[1]).toFixed(1));
        const g = svg("g", { class: "curve-group", "data-run": run.run });
        const title = svg("title", {}, "run " + run.run + (run.stopped ? " (stopped early)" : "") + ": " + run.curve.length + " values");
        if (run.curve.length === 1) {
          g.appendChild(svg("circle", { class: "curve-dot", cx: pts[0].split(",")[0], cy: pts[0].split(",")[1], r: 3, fill: colour(run.metric) }, [title]));
        } else {
          g.appendChild(svg("polyline", { class: "curve" + (run.stopped ? " stopped" : ""), points: pts.join(" "), stroke: colour(run.metric) }, [title]));
        }
        if (run.stopped) {
          const [px, py] = pts[pts.length - 1].split(",").map(Number);
          g.appendChild(svg("path", { class: "stop-mark", d: "M" + (px - 4) + "," + (py - 4) + "l8,8m0,-8l-8,8" }));
        }
        c.chart.appendChild(g);
      }
      parts.push(el("h3", {}, metric.name + " over each run"), el("div", { class: "scroll" }, c.chart),
        el("p", { class: "help" }, "Each run's " + metric.name + " in the order logged, coloured as above. Dashed, ending in ×: stopped by early termination."));
    } else {
      parts.push(el("p", { class: "note" }, "No run has logged " + metric.name + " yet."));
    }
    if (data.best_so_far.length) {
      const xs = data.best_so_far.map((p) => p[0]);
      const each = data.runs.filter((r) => r.metric !== null);
      const ys = data.best_so_far.map((p) => p[1]).concat(each.map((r) => r.metric));
      const c = lineChart("best-so-far-plot", "run", (minimize ? "lowest " : "highest ") + metric.name + " so far", xs.concat(each.map((r) => r.run)), ys);
      for (const r of each) {
        c.chart.appendChild(svg("circle", { class: "run-dot", cx: c.x(r.run), cy: c.y(r.metric), r: 2.5 }, [svg("title", {}, "run " + r.run + ": " + fmt(r.metric))]));
      }
      const pts = [];
      data.best_so_far.forEach(function ([run, value], k) {
        if (k > 0) pts.push(c.x(run).toFixed(1) + "," + c.y(data.best_so_far[k - 1][1]).toFixed(1));
        pts.push(c.x(run).toFixed(1) + "," + c.y(value).toFixed(1));
      });
      c.chart.appendChild(svg("polyline", { class: "best-so-far", points: pts.join(" ") }));
      parts.push(el("h3", {}, "Best so far"), el("div", { class: "scroll" }, c.chart),
        el("p", { class: "help" }, "The sweep's best " + metric.name + " after each run (line), and each run's own (dots)."));
    }
    return section("curves", "Curves", parts);
  }

  // ---- Pareto front (several objectives) -----------------------------------

  // The runs' table row for a run, picked out and scrolled to.
  function pick(run) {
    for (const tr of document.querySelectorAll("#runs-table tr.picked")) tr.classList.remove("picked");
    const tr = document.querySelector('#runs-table tr[data-run="' + run + '"]');
    if (tr) {
      tr.classList.add("picked");
      tr.scrollIntoView({ block: "center" });
    }
  }

  function pareto() {
    const f = data.front;
    if (!f) return null;
    const [ox, oy] = f.objectives;
    const parts = [];
    if (f.points.length === 0) {
      parts.push(el("p", { class: "note" }, "No finished run has logged every objective yet."));
      return section("pareto", "Pareto front", parts);
    }
    const xs = f.points.map((p) => p.values[0]);
    const ys = f.points.map((p) => p.values[1]);
    const c = lineChart("pareto-plot", ox.name + " (" + ox.goal + ")", oy.name + " (" + oy.goal + ")", xs, ys);
    // The front as a staircase, from the best of the first objective on.
    const sign = (o) => (o.goal === "minimize" ? 1 : -1);
    const on = f.points.filter((p) => p.on_front)
      .sort((a, b) => sign(ox) * (a.values[0] - b.values[0]) || sign(oy) * (a.values[1] - b.values[1]));
    if (on.length > 1) {
      const pts = [];
      on.forEach(function (p, k) {
        if (k > 0) pts.push(c.x(p.values[0]).toFixed(1) + "," + c.y(on[k - 1].values[1]).toFixed(1));
        pts.push(c.x(p.values[0]).toFixed(1) + "," + c.y(p.values[1]).toFixed(1));
      });
      c.chart.appendChild(svg("polyline", { class: "front-line", points: pts.join(" ") }));
    }
    // Runs off the front first, so the front lies on top.
    const drawn = f.points.slice().sort((a, b) => (a.on_front === b.on_front ? a.run - b.run : a.on_front ? 1 : -1));
    for (const p of drawn) {
      const cls = "front-point" + (p.on_front ? " on-front" : "") + (p.feasible ? "" : " infeasible");
      const title = "run " + p.run + ": " + ox.name + " " + fmt(p.values[0]) + ", " + oy.name + " " + fmt(p.values[1]) +
        (p.on_front ? " (on the front)" : "") + (p.feasible ? "" : " (breaks an outcome constraint)");
      const dot = svg("circle", { class: cls, cx: c.x(p.values[0]), cy: c.y(p.values[1]), r: p.on_front ? 5 : 3.5, "data-run": p.run }, [svg("title", {}, title)]);
      dot.addEventListener("click", function () { pick(p.run); });
      c.chart.appendChild(dot);
    }
    const count = on.length;
    parts.push(el("div", { class: "scroll" }, c.chart),
      el("p", { class: "help" }, count + " run" + (count === 1 ? " is" : "s are") + " on the front (filled, joined): no other run is as good on both " +
        (f.objectives.length > 2 ? "of these objectives and the rest" : "objectives") +
        " and better on one. Hollow: runs that break an outcome constraint. Click a run to find it in the table."));
    return section("pareto", "Pareto front", parts);
  }

  // ---- table of runs --------------------------------------------------------

  function table() {
    const cols = [
      { name: "run", value: (r) => r.run, show: (r) => String(r.run) },
      { name: "state", value: (r) => r.state, show: (r) => r.state + (r.reason ? " (" + r.reason + ")" : "") },
      { name: metric ? metric.name : "metric", value: (r) => r.metric, show: (r) => fmt(r.metric) },
      { name: "duration", value: (r) => r.duration_s, show: (r) => duration(r.duration_s) },
    ].filter((c) => metric || !data.front || c.name !== "metric").concat((data.front ? data.front.objectives : []).map(function (o, k) {
      const of = new Map(data.front.points.map((p) => [p.run, p.values[k]]));
      const v = (r) => (of.has(r.run) ? of.get(r.run) : null);
      return { name: o.name, value: v, show: (r) => fmt(v(r)) };
    })).concat(data.axes.map(function (axis, i) {
      // A run without the parameter (its condition did not hold): not applicable.
      const label = (r) => (r.values[i] === null ? "n/a" : axis.kind === "categorical" ? axis.labels[r.values[i]] : fmt(r.values[i]));
      // Categorical columns sort by label order (numbers as numbers, text as in the file).
      return { name: axis.name, value: (r) => r.values[i], show: label };
    }));
    const body = el("tbody");
    let order = data.front && !metric ? { col: 0, dir: 1 } : { col: 2, dir: minimize ? 1 : -1 };
    const heads = cols.map(function (c, k) {
      const th = el("th", { "data-col": k, scope: "col" }, c.name);
      th.addEventListener("click", function () {
        order = { col: k, dir: order.col === k ? -order.dir : 1 };
        fill();
      });
      return th;
    });
    function fill() {
      const c = cols[order.col];
      const rows = data.runs.slice().sort(function (a, b) {
        const x = c.value(a), y = c.value(b);
        if (x === null || x === undefined) return y === null || y === undefined ? a.run - b.run : 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : x > y ? 1 : a.run - b.run) * order.dir;
      });
      heads.forEach((th, k) => th.setAttribute("aria-sort", k === order.col ? (order.dir > 0 ? "ascending" : "descending") : "none"));
      const fragment = document.createDocumentFragment();
      for (const r of rows) {
        const best = data.best && data.best.run === r.run;
        const front = data.front && data.front.points.some((p) => p.run === r.run && p.on_front);
        fragment.appendChild(el("tr", { "data-run": r.run, class: (best ? "best " : "") + (front ? "on-front " : "") + "state-" + r.state },
          cols.map((c) => el("td", {}, c.show(r)))));
      }
      body.replaceChildren(fragment);
    }
    fill();
    const t = el("table", { id: "runs-table" }, [el("thead", {}, el("tr", {}, heads)), body]);
    return section("runs", "Runs", [el("p", { class: "help" }, "Click a column to sort by it."), el("div", { class: "scroll table" }, t)]);
  }

  // ---- the best run ---------------------------------------------------------

  function bestRun() {
    if (!data.best) return null;
    const pre = el("pre", { id: "best-yaml" }, data.best.yaml);
    const button = el("button", { type: "button", id: "copy-yaml" }, "Copy");
    button.addEventListener("click", function () {
      const done = () => { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(data.best.yaml).then(done, select);
      } else {
        select();
      }
      function select() {
        const range = document.createRange();
        range.selectNodeContents(pre);
        const s = window.getSelection();
        s.removeAllRanges();
        s.addRange(range);
        if (document.execCommand && document.execCommand("copy")) done();
      }
    });
    return section("best", "Best run", [
      el("p", {}, "Run " + data.best.run + " (" + metric.name + " " + fmt(data.best.value) + "). Its parameters, ready to paste into a sweep file:"),
      button, pre]);
  }

  try {
    append(root, [header(), parallel(), pareto(), importance(), curves(), table(), bestRun()]);
    document.body.dataset.rendered = "ok";
  } catch (e) {
    document.body.dataset.error = String((e && e.stack) || e);
    throw e;
  }
})();
