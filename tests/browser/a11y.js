() => {
  const problems = [];
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const name = (el) => el.id || el.name || el.textContent.trim().slice(0, 30) || el.tagName;
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3); } return [255, 255, 255]; };
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !visible(el)) continue;
    const labelled = el.getAttribute("aria-label") || el.closest("label") || (el.id && document.querySelector(`label[for="${el.id}"]`));
    if (!labelled) problems.push(`no label: ${name(el)}`);
    const target = el.type === "checkbox" || el.type === "radio" ? (el.closest("label") || el) : el;
    if (target.getBoundingClientRect().height < 44) problems.push(`small target: ${name(el)}`);
  }
  for (const el of document.querySelectorAll("button, .button, .cards a, summary")) {
    if (!visible(el)) continue;
    if (el.getBoundingClientRect().height < 44) problems.push(`small target: ${name(el)}`);
    const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) problems.push(`low contrast ${ratio.toFixed(2)}: ${name(el)}`);
  }
  return problems;
}
