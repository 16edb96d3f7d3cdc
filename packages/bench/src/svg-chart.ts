/**
 * Grouped bar charts as inline SVG strings: no scripts, no external resources, so a report is a
 * single file that opens anywhere. Every bar carries `data-*` attributes with its series, group
 * and value, which the report test reads back from the browser's DOM.
 */

export interface ChartGroup {
  label: string;
  /** One value per series, in series order; undefined or NaN draws no bar. */
  values: readonly (number | undefined)[];
  /** Optional [min, max] per series (the spread of repeated runs), drawn as a whisker. */
  ranges?: readonly ([number, number] | undefined)[];
}

export interface BarChartSpec {
  title: string;
  unit: string;
  series: readonly string[];
  groups: readonly ChartGroup[];
  /** Draw a dashed reference line (e.g. a target) at this value. */
  reference?: { value: number; label: string };
  /** Axis titles; the y title gets the unit appended. */
  xTitle?: string;
  yTitle?: string;
  /** `log`: a base-10 log axis, so one large value does not flatten the others. */
  scale?: 'linear' | 'log';
  width?: number;
  height?: number;
}

export const PALETTE = ['#2f6fb5', '#e07b39', '#3a9d5d', '#b53f6a', '#7a5cc4', '#8c8c3a'];
const LEGEND_STEP = 130;

/** Escapes text for HTML and SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function short(value: number): string {
  if (!Number.isFinite(value)) return '';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toPrecision(2);
}

/** A "nice" upper bound for the axis: 1, 2 or 5 times a power of ten. */
export function niceMax(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 900;
  const height = spec.height ?? 320;
  const legendRows = Math.ceil(spec.series.length / Math.max(1, Math.floor((width - 64) / LEGEND_STEP)));
  const margin = { top: 36, right: 16, bottom: 74 + 16 * legendRows, left: 76 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = spec.groups.flatMap((g) => g.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const whiskers = spec.groups.flatMap((g) => (g.ranges ?? []).flatMap((r) => (r ? r.filter((v) => Number.isFinite(v)) : [])));
  const log = spec.scale === 'log';
  const top = niceMax(Math.max(0, ...finite, ...whiskers, spec.reference?.value ?? 0));
  // Log axis: from the power of ten below the smallest positive value (strictly below, so that
  // value still gets a bar) up to `top`.
  const positive = [...finite, ...whiskers].filter((v) => v > 0);
  const bottom = log ? 10 ** (Math.ceil(Math.log10(Math.min(...positive, top)) - 1e-9) - 1) : 0;
  const decades = log ? Math.max(1, Math.ceil(Math.log10(top / bottom))) : 1;
  const y = (v: number): number =>
    log
      ? margin.top + plotH - (Math.log10(Math.max(v, bottom) / bottom) / decades) * plotH
      : margin.top + plotH - (Math.max(v, 0) / top) * plotH;
  const groupW = plotW / Math.max(spec.groups.length, 1);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(spec.series.length, 1));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
  );
  parts.push(`<title>${escapeXml(spec.title)}</title>`);
  parts.push(`<text class="chart-title" x="8" y="20" font-size="13" font-weight="600">${escapeXml(spec.title)} (${escapeXml(spec.unit)}${log ? ', log scale' : ''})</text>`);
  const yTitle = `${spec.yTitle ?? spec.title} (${spec.unit}${log ? ', log scale' : ''})`;
  parts.push(
    `<text class="axis-title y" x="14" y="${(margin.top + plotH / 2).toFixed(1)}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${(margin.top + plotH / 2).toFixed(1)})">${escapeXml(yTitle)}</text>`,
  );
  if (spec.xTitle) {
    parts.push(`<text class="axis-title x" x="${(margin.left + plotW / 2).toFixed(1)}" y="${margin.top + plotH + 44}" font-size="11" text-anchor="middle">${escapeXml(spec.xTitle)}</text>`);
  }
  // Axis: five ticks, or one per decade on a log axis.
  const ticks = log ? Array.from({ length: decades + 1 }, (_, i) => bottom * 10 ** i) : [0, 1, 2, 3, 4].map((i) => (top * i) / 4);
  for (const value of ticks) {
    const ty = y(value).toFixed(1);
    parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${ty}" y2="${ty}" stroke="#ddd" stroke-width="1"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${ty}" font-size="11" text-anchor="end" dominant-baseline="middle">${short(value)}</text>`);
  }
  spec.groups.forEach((group, gi) => {
    const gx = margin.left + gi * groupW + groupW * 0.1;
    group.values.forEach((value, si) => {
      if (value === undefined || !Number.isFinite(value)) return;
      const x = gx + si * barW;
      const by = y(value);
      const h = Math.max(margin.top + plotH - by, value > 0 ? 1 : 0);
      const series = spec.series[si] ?? '';
      const range = group.ranges?.[si];
      parts.push(
        `<rect class="bar" data-series="${escapeXml(series)}" data-group="${escapeXml(group.label)}" data-value="${value}" x="${x.toFixed(1)}" y="${(margin.top + plotH - h).toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${group.label} / ${series}: ${short(value)} ${spec.unit}${range ? ` (${short(range[0])}-${short(range[1])})` : ''}`)}</title></rect>`,
      );
      if (range && Number.isFinite(range[0]) && Number.isFinite(range[1])) {
        const cx = (x + (barW - 1) / 2).toFixed(1);
        const [y0, y1] = [y(range[0]).toFixed(1), y(range[1]).toFixed(1)];
        parts.push(
          `<path class="whisker" data-series="${escapeXml(series)}" data-group="${escapeXml(group.label)}" data-min="${range[0]}" data-max="${range[1]}" d="M${cx} ${y0}V${y1}M${(Number(cx) - 3).toFixed(1)} ${y0}h6M${(Number(cx) - 3).toFixed(1)} ${y1}h6" stroke="#222" stroke-width="1" fill="none"/>`,
        );
      }
    });
    const lx = margin.left + gi * groupW + groupW / 2;
    // A label wider than its group goes on two lines, split at the space nearest its middle.
    const words = group.label.split(' ');
    let lines = [group.label];
    if (group.label.length * 6.2 > groupW && words.length > 1) {
      let best = 1;
      for (let k = 1; k < words.length; k += 1) {
        const a = words.slice(0, k).join(' ').length;
        if (Math.abs(a - group.label.length / 2) < Math.abs(words.slice(0, best).join(' ').length - group.label.length / 2)) best = k;
      }
      lines = [words.slice(0, best).join(' '), words.slice(best).join(' ')];
    }
    const tspans = lines.map((line, li) => `<tspan x="${lx.toFixed(1)}" dy="${li === 0 ? 0 : 12}">${escapeXml(line)}</tspan>`).join('');
    parts.push(`<text class="group-label" x="${lx.toFixed(1)}" y="${margin.top + plotH + 14}" font-size="11" text-anchor="middle">${tspans}</text>`);
  });
  if (spec.reference) {
    const ry = y(spec.reference.value).toFixed(1);
    parts.push(`<line class="reference" x1="${margin.left}" x2="${width - margin.right}" y1="${ry}" y2="${ry}" stroke="#c00" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${width - margin.right}" y="${Number(ry) - 4}" font-size="11" text-anchor="end" fill="#c00">${escapeXml(spec.reference.label)}</text>`);
  }
  parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#333"/>`);
  if (finite.length === 0) {
    parts.push(`<text class="no-data" x="${margin.left + plotW / 2}" y="${margin.top + plotH / 2}" font-size="13" text-anchor="middle" fill="#777">no data</text>`);
  }
  // Legend, wrapped onto as many rows as the series need.
  const perRow = Math.max(1, Math.floor((width - margin.left) / LEGEND_STEP));
  spec.series.forEach((series, si) => {
    const lx = margin.left + (si % perRow) * LEGEND_STEP;
    const ly = height - 18 - (Math.ceil(spec.series.length / perRow) - 1 - Math.floor(si / perRow)) * 16;
    parts.push(`<rect class="legend" x="${lx}" y="${ly - 9}" width="10" height="10" fill="${PALETTE[si % PALETTE.length]}"/>`);
    parts.push(`<text x="${lx + 14}" y="${ly}" font-size="11">${escapeXml(series)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
