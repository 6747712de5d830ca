// Charts drawn as SVG by the page itself: a line chart against a limit, and bars.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  let serial = 0;
  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function frame(width, height, title, summary) {
    const id = `chart-${++serial}`;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-t ${id}-d` });
    root.append(svg("title", { id: `${id}-t` }, title), svg("desc", { id: `${id}-d` }, summary));
    return root;
  }

  // series: [{name, color, points: [[Date, y|null]]}], limit: {y, label}; y is a fraction.
  function rateLine(container, { title, series, limit, summary }) {
    const W = 720, H = 240, L = 48, R = 12, T = 12, B = 30;
    const xs = series.flatMap((s) => s.points.map((p) => +p[0]));
    const ys = series.flatMap((s) => s.points.map((p) => p[1]).filter((y) => y !== null));
    const root = frame(W, H, title, summary);
    if (!xs.length) { container.replaceChildren(root); return; }
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
    const yMax = Math.max(limit ? limit.y * 2 : 0.05, ...ys) * 1.1;
    const x = (v) => L + ((+v - x0) / (x1 - x0)) * (W - L - R);
    const y = (v) => T + (1 - v / yMax) * (H - T - B);
    const grid = svg("g", { class: "grid", stroke: "#e4e8ee", "font-size": "11", fill: "#5d6675" });
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      grid.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      grid.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", stroke: "none" }, `${(v * 100).toFixed(1)}%`));
    }
    for (let i = 0; i <= 4; i++) {
      const t = new Date(x0 + ((x1 - x0) * i) / 4);
      const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
      grid.append(svg("text", { x: x(t), y: H - 8, "text-anchor": anchor, stroke: "none" },
        t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    }
    root.append(grid);
    if (limit) {
      root.append(svg("line", { x1: L, x2: W - R, y1: y(limit.y), y2: y(limit.y), stroke: "#b3261e", "stroke-dasharray": "6 4", "stroke-width": 1.5 }));
      root.append(svg("text", { x: W - R, y: y(limit.y) - 5, "text-anchor": "end", fill: "#b3261e", "font-size": "12" }, limit.label));
    }
    for (const s of series) {
      let d = "", pen = false;
      for (const [px, py] of s.points) {
        if (py === null) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`;
        pen = true;
      }
      root.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "data-series": s.name }));
      for (const [px, py] of s.points) {
        if (py !== null && s.dots) root.append(svg("circle", { cx: x(px), cy: y(py), r: 2.5, fill: s.color }));
      }
    }
    const legend = document.createElement("figcaption");
    legend.className = "legend";
    for (const s of [...series, ...(limit ? [{ name: limit.label, color: "#b3261e" }] : [])]) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = s.color;
      item.append(swatch, s.name);
      legend.append(item);
    }
    container.replaceChildren(root, legend);
  }

  // items: [{label, value}], horizontal bars, longest first.
  function bars(container, { title, items, summary }) {
    const rowH = 22, L = 200, R = 50, W = 720;
    const H = Math.max(1, items.length) * rowH + 8;
    const root = frame(W, H, title, summary);
    const max = Math.max(1, ...items.map((i) => i.value));
    items.forEach((item, n) => {
      const yy = 4 + n * rowH;
      const width = ((W - L - R) * item.value) / max;
      root.append(svg("text", { x: L - 8, y: yy + 15, "text-anchor": "end", "font-size": "12", fill: "#1d2430" }, item.label));
      root.append(svg("rect", { x: L, y: yy + 3, width: Math.max(1, width), height: rowH - 8, rx: 3, fill: item.color || "#1f5fbf" }));
      root.append(svg("text", { x: L + width + 6, y: yy + 15, "font-size": "12", fill: "#5d6675" }, String(item.value)));
    });
    container.replaceChildren(root);
  }

  return { rateLine, bars };
})();
