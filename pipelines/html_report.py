"""``DIR/report.html``: report.json drawn for a person, as one self-contained page.

The page is a pure function of the report dict (no clock, no network, no
document text): inline CSS, inline SVG charts drawn here, no scripts, no
fonts or images from anywhere. It opens from disk in any browser and can be
mailed or attached to a ticket as one file.

What it shows, top to bottom:

- the run: demem version, runner, config hash, accounting status, documents
  and bytes in and out, removed per stage, quarantined, wall time and MB/s,
  with a bar that splits the input into output / removed per stage /
  quarantined;
- removal and quarantine: documents and bytes removed per stage (bars) and
  quarantined records per error code (bars);
- one section per stage (``report["stages"]``), in pipeline order: scalar
  statistics as a table, and every nested statistic drawn generically, so a
  stage added later appears without code changes:

  * a dict of numbers whose keys are numeric buckets (``"2"``, ``"3-4"``,
    ``"65+"``) is a histogram (columns), e.g. near dedup's ``cluster_sizes``
    or an item-frequency distribution;
  * any other dict of numbers is a bar per key (PII or trace counts per type,
    canary replication rates …);
  * a dict of such dicts, or sibling ``before``/``after`` dicts, is one
    grouped chart with a series per key (trace counts before and after
    scrubbing, frequency distribution before and after dilution);
  * ``s_curve`` ({similarity: probability}) is a line chart with the
    threshold marked;
  * a list of dicts is a table; anything else nested is a sub-table;

- timings (stage busy seconds), the output shards, any top-level section the
  page does not know (drawn generically), and the config (collapsed).

Every string from the report is escaped with :func:`html.escape`. Values
under a key named ``text`` are never shown (a stage may be configured to put
span text into report.json; the page is meant to be shared).

``python -m pipelines.html_report DIR/report.json [OUT.html]`` renders an
existing report (default: ``report.html`` beside it).
"""
from __future__ import annotations

import html
import json
import math
import re
import sys

from apache_beam.io.filesystems import FileSystems

HTML_REPORT_FILE = "report.html"

# Pipeline order of the stages demem has or plans; unknown stages follow in report order.
STAGE_ORDER = ("exact_dedup", "near_dedup", "connected_components", "substring", "traces", "pii", "dilution",
               "canaries")
STAGE_TITLES = {
    "exact_dedup": "Exact deduplication",
    "near_dedup": "Near deduplication (MinHash LSH)",
    "connected_components": "Connected components",
    "substring": "Repeated substrings",
    "traces": "De-identification traces",
    "pii": "PII scrubbing",
    "dilution": "Frequency dilution",
    "canaries": "Canaries",
}
KNOWN_TOP_LEVEL = ("demem_version", "accounting_ok", "counts", "bytes", "quarantine_by_code", "stages", "timings",
                   "output", "runner", "config_hash", "config")
HIDDEN_KEYS = ("text",)
MAX_BARS = 40

PALETTE = ("#3b6fb6", "#e08a2c", "#4f9d69", "#c4504f", "#8a63b5", "#6b8e9e", "#b5895a", "#d46fa8")
OUTPUT_COLOR, QUARANTINE_COLOR = "#4f9d69", "#9a9a9a"
STAGE_COLORS = ("#c4504f", "#e08a2c", "#8a63b5", "#d46fa8", "#b5895a", "#6b8e9e", "#3b6fb6", "#7a7a2a")

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #ffffff; --panel: #f6f7fa; --ok: #2e7d4f;
        --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 20px 28px 48px; }
header { border-bottom: 2px solid var(--fg); padding-bottom: 10px; margin-bottom: 18px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 14px; margin: 14px 0 6px; color: var(--muted); }
.meta { color: var(--muted); }
.meta code { color: var(--fg); }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: bold; color: #fff;
         font-size: 13px; vertical-align: middle; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; margin: 12px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 20px; font-weight: bold; }
.card .sub { color: var(--muted); font-size: 12px; }
.equation { margin: 8px 0; font-size: 14px; }
.equation.bad { color: var(--bad); font-weight: bold; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(430px, 1fr)); gap: 4px 28px; }
figure { margin: 6px 0 14px; }
figcaption { font-size: 13px; font-weight: 600; margin-bottom: 2px; }
figcaption .note { font-weight: normal; color: var(--muted); }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; fill: var(--fg); }
.empty { color: var(--muted); font-style: italic; }
.stage .meta { margin: -2px 0 6px; }
.stage { margin-bottom: 18px; }
details { margin: 10px 0; } summary { cursor: pointer; color: var(--muted); }
pre { background: var(--panel); border: 1px solid var(--line); padding: 10px; overflow-x: auto; font-size: 12px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 5px; vertical-align: -1px;
            border-radius: 2px; }
@media print { main { max-width: none; } details { display: block; } }
"""


# --- formatting -------------------------------------------------------------------------------


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt_number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,d}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,d}"
        return f"{value:,.6g}" if abs(value) >= 1e-4 else f"{value:.3g}"
    return str(value)


def fmt_compact(value) -> str:
    """Short label for a bar: 9120 -> 9.1k, 1234567 -> 1.2M (exact values are in the tooltips)."""
    if not _is_number(value) or abs(value) < 1000:
        return fmt_number(round(value, 3) if isinstance(value, float) else value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.1f}{unit}" if abs(scaled) < 10 else f"{scaled:.0f}{unit}"
    return fmt_number(value)  # pragma: no cover


def fmt_bytes(value) -> str:
    if not _is_number(value):
        return fmt_number(value)
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{int(size):,d} B" if unit == "B" else f"{size:,.2f} {unit}"
        size /= 1000
    return f"{value} B"  # pragma: no cover


def _is_bytes_key(key: str) -> bool:
    return key == "bytes" or key.endswith("_bytes") or key.startswith("bytes_")


def fmt_value(key: str, value) -> str:
    """HTML for one statistic; bytes and seconds get units, exact numbers go in a tooltip."""
    if _is_number(value) and _is_bytes_key(key):
        return f'<span title="{esc(fmt_number(value))} bytes">{esc(fmt_bytes(value))}</span>'
    if _is_number(value) and (key.endswith("seconds") or key.endswith("_s")):
        return esc(f"{fmt_number(value)} s")
    if _is_number(value) or isinstance(value, bool) or value is None:
        return esc(fmt_number(value))
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return esc(", ".join(str(v) for v in value)) if value else '<span class="empty">none</span>'
    return esc(value)


def humanize(key: str) -> str:
    return str(key).replace("_", " ")


def _ellipsize(label: str, max_chars: int) -> str:
    return label if len(label) <= max_chars else label[: max_chars - 1] + "…"


# --- shapes of statistics -------------------------------------------------------------------

_BUCKET = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:(?:-|–|\.\.)\s*-?\d+(?:\.\d+)?|\+|\s*or more)?\s*$")


def _bucket_start(label) -> float | None:
    match = _BUCKET.match(str(label))
    return float(match.group(1)) if match else None


def is_numeric_map(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(_is_number(v) for v in value.values())


def is_histogram(value) -> bool:
    """A dict of numbers keyed by numeric buckets ("1", "2", "3-4", "65+")."""
    return is_numeric_map(value) and all(_bucket_start(k) is not None for k in value)


def is_series_map(value) -> bool:
    """A dict of dicts of numbers: one chart with a series per outer key."""
    return (isinstance(value, dict) and bool(value)
            and all(isinstance(v, dict) and all(_is_number(x) for x in v.values()) for v in value.values())
            and any(v for v in value.values()))


def _ordered_items(mapping: dict) -> list[tuple[str, float]]:
    """Buckets in numeric order; categories by value, largest first."""
    items = [(str(k), v) for k, v in mapping.items() if str(k) not in HIDDEN_KEYS]
    if all(_bucket_start(k) is not None for k, _ in items):
        return sorted(items, key=lambda kv: (_bucket_start(kv[0]), kv[0]))
    return sorted(items, key=lambda kv: (-kv[1], kv[0]))


def _cap(items: list[tuple[str, float]], limit: int = MAX_BARS) -> list[tuple[str, float]]:
    if len(items) <= limit:
        return items
    rest = items[limit - 1:]
    return items[: limit - 1] + [(f"other ({len(rest)} keys)", sum(v for _, v in rest))]


# --- SVG charts -----------------------------------------------------------------------------

CHAR_W = 7.0  # average label width at 12px, for layout


def text_width(label: str, size: float = 12) -> float:
    """Rough rendered width of ``label`` in DejaVu/Liberation Sans at ``size`` px, for layout."""
    wide = sum(1 for ch in label if ch.isupper() or ch in "MWmw@%")
    narrow = sum(1 for ch in label if ch in "il.,:;|'!1 ()[]")
    return size / 12 * (8.6 * wide + 4.2 * narrow + 7.2 * (len(label) - wide - narrow))


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg role="img" aria-label="{esc(title)}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}"><title>{esc(title)}</title>' + "".join(body) + "</svg>")


def _figure(caption: str, svg: str, note: str = "", legend: list[tuple[str, str]] | None = None) -> str:
    note_html = f' <span class="note">{esc(note)}</span>' if note else ""
    legend_html = ""
    if legend:
        legend_html = '<div class="legend">' + "".join(
            f'<span><i style="background:{color}"></i>{esc(name)}</span>' for name, color in legend) + "</div>"
    return f"<figure><figcaption>{esc(caption)}{note_html}</figcaption>{legend_html}{svg}</figure>"


def _use_log(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) >= 2 and max(positive) / min(positive) >= 100


def _scale(value: float, top: float, log: bool) -> float:
    """0..1 position of ``value`` on an axis from 0 to ``top``."""
    if value <= 0 or top <= 0:
        return 0.0
    if log:
        return math.log10(1 + value) / math.log10(1 + top)
    return value / top


def hbar_chart(title: str, items: list[tuple[str, float]], fmt=fmt_number, colors=None, width: int = 520,
               note: str = "") -> str:
    """Horizontal bars, one per (label, value), value printed at the bar's end."""
    items = _cap(items)
    if not items:
        return _figure(title, '<p class="empty">nothing to draw</p>')
    values = [max(float(v), 0.0) for _, v in items]
    left = 10 + max(text_width(_ellipsize(label, 28)) for label, _ in items)
    value_w = max(text_width(fmt(v)) for _, v in items) + 12
    plot_w = max(width - left - value_w, 80)
    row_h, bar_h, top_pad = 22, 15, 4
    height = top_pad + row_h * len(items) + 4
    top = max(values) or 1.0
    body = [f'<line x1="{left:.1f}" y1="{top_pad}" x2="{left:.1f}" y2="{height - 4}" stroke="#9aa1ad"/>']
    for i, ((label, value), v) in enumerate(zip(items, values)):
        y = top_pad + i * row_h
        w = plot_w * _scale(v, top, False)  # bars compare lengths: always linear
        color = (colors[i % len(colors)] if colors else PALETTE[0])
        short = _ellipsize(label, 28)
        body.append(f'<text x="{left - 6:.1f}" y="{y + 12}" text-anchor="end" font-size="12">'
                    f'<title>{esc(label)}</title>{esc(short)}</text>')
        body.append(f'<rect x="{left:.1f}" y="{y + 1}" width="{max(w, 1 if v > 0 else 0):.1f}" height="{bar_h}" '
                    f'fill="{color}"><title>{esc(label)}: {esc(fmt(value))}</title></rect>')
        body.append(f'<text x="{left + w + 5:.1f}" y="{y + 12}" font-size="12">{esc(fmt(value))}</text>')
    return _figure(title, _svg(width, height, title, body), note)


def grouped_hbar_chart(title: str, series: dict, fmt=fmt_number, width: int = 520, note: str = "") -> str:
    """One group of bars per category, one bar per series (e.g. before / after)."""
    names = [str(n) for n in series]
    totals: dict[str, float] = {}
    for name in series:
        for key, value in series[name].items():
            if str(key) not in HIDDEN_KEYS:
                totals[str(key)] = max(totals.get(str(key), 0.0), float(value))
    categories = [k for k, _ in _ordered_items(totals)]
    if len(categories) > MAX_BARS:
        categories = categories[:MAX_BARS]
        note = (note + "; " if note else "") + f"largest {MAX_BARS} of {len(totals)} keys"
    if not categories:
        return _figure(title, '<p class="empty">nothing to draw</p>')
    values = [float(series[n].get(c, 0)) for n in series for c in categories]
    left = 10 + max(text_width(_ellipsize(c, 28)) for c in categories)
    value_w = max(text_width(fmt(v), 11) for v in values) + 12
    plot_w = max(width - left - value_w, 80)
    bar_h, gap = 15, 9
    group_h = bar_h * len(names) + gap
    height = 4 + group_h * len(categories)
    top = max(values) or 1.0
    colors = {name: ("#9aa1ad" if name == "before" and len(names) == 2 else PALETTE[i % len(PALETTE)])
              for i, name in enumerate(names)}
    body = [f'<line x1="{left:.1f}" y1="2" x2="{left:.1f}" y2="{height - 4}" stroke="#9aa1ad"/>']
    for ci, category in enumerate(categories):
        y0 = 4 + ci * group_h
        body.append(f'<text x="{left - 6:.1f}" y="{y0 + bar_h * len(names) / 2 + 4:.1f}" text-anchor="end" '
                    f'font-size="12"><title>{esc(category)}</title>{esc(_ellipsize(category, 28))}</text>')
        for si, name in enumerate(series):
            value = series[name].get(category, 0)
            w = plot_w * _scale(float(value), top, False)
            y = y0 + si * bar_h
            body.append(f'<rect x="{left:.1f}" y="{y}" width="{max(w, 1 if value > 0 else 0):.1f}" '
                        f'height="{bar_h - 1}" fill="{colors[str(name)]}"><title>{esc(category)} · {esc(name)}: '
                        f'{esc(fmt(value))}</title></rect>')
            body.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 3}" font-size="11">{esc(fmt(value))}</text>')
    return _figure(title, _svg(width, height, title, body), note, legend=[(n, colors[n]) for n in names])


def histogram_chart(title: str, buckets: dict, x_label: str = "", y_label: str = "count", width: int = 520,
                    series: dict | None = None, note: str = "") -> str:
    """Columns per numeric bucket, in bucket order; ``series`` draws several side by side."""
    series = series if series is not None else {"": buckets}
    names = list(series)
    keys: dict[str, float] = {}
    for name in names:
        for key in series[name]:
            keys[str(key)] = 0
    labels = [k for k, _ in _ordered_items(keys)]
    if not labels:
        return _figure(title, '<p class="empty">nothing to draw</p>')
    values = [float(series[n].get(k, 0)) for n in names for k in labels]
    log = _use_log(values)
    top = max(values) or 1.0
    left, right, top_pad, bottom = 46, 10, 26, 40
    height = 240
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    slot = plot_w / len(labels)
    bar_w = max(min(slot * 0.8 / len(names), 60), 2)
    colors = {n: ("#9aa1ad" if n == "before" and len(names) == 2 else PALETTE[i % len(PALETTE)])
              for i, n in enumerate(names)}
    body = [f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" '
            f'stroke="#9aa1ad"/>',
            f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#9aa1ad"/>']
    ticks = [0, top / 2, top] if not log else [0] + [10 ** e for e in range(1, int(math.log10(top)) + 1)]
    for tick in ticks:
        y = top_pad + plot_h * (1 - _scale(tick, top, log))
        body.append(f'<line x1="{left - 3}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eceef2"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10.5">'
                    f'{esc(fmt_number(round(tick, 2) if isinstance(tick, float) else tick))}</text>')
    every = max(1, math.ceil(len(labels) * 7 * CHAR_W / plot_w / 6))
    fits = max(text_width(fmt_compact(series[n].get(k, 0)), 10.5) for n in names for k in labels) <= bar_w - 3
    for i, label in enumerate(labels):
        x0 = left + i * slot + (slot - bar_w * len(names)) / 2
        for si, name in enumerate(names):
            value = float(series[name].get(label, 0))
            h = plot_h * _scale(value, top, log)
            x = x0 + si * bar_w
            body.append(f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                        f'fill="{colors[name]}"><title>{esc(label)}{" · " + esc(name) if name else ""}: '
                        f'{esc(fmt_number(series[name].get(label, 0)))}</title></rect>')
            if fits and value > 0:
                body.append(f'<text x="{x + (bar_w - 1) / 2:.1f}" y="{top_pad + plot_h - h - 3:.1f}" '
                            f'text-anchor="middle" font-size="10.5">{esc(fmt_compact(series[name].get(label, 0)))}'
                            f'</text>')
        if i % every == 0:
            body.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{top_pad + plot_h + 14}" text-anchor="middle" '
                        f'font-size="11">{esc(_ellipsize(label, 10))}</text>')
    if x_label:
        body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="11.5">'
                    f'{esc(x_label)}</text>')
    body.append(f'<text x="4" y="12" font-size="11.5">{esc(y_label)}</text>')
    if log:
        note = (note + "; " if note else "") + "log scale"
    legend = [(n, colors[n]) for n in names] if len(names) > 1 else None
    return _figure(title, _svg(width, height, title, body), note, legend)


def _s_curve(bands, rows) -> list[tuple[float, float]] | None:
    """LSH's candidate probability 1 - (1 - s^r)^b on a grid, when bands and rows are known."""
    if not (isinstance(bands, int) and isinstance(rows, int) and bands > 0 and rows > 0):
        return None
    return [(i / 50, 1 - (1 - (i / 50) ** rows) ** bands) for i in range(51)]


def line_chart(title: str, points: dict, x_label: str, y_label: str, marker: float | None = None,
               width: int = 520, curve: list[tuple[float, float]] | None = None) -> str:
    """Points over numeric x in [0, 1] (e.g. LSH's S-curve), joined by ``curve`` if given (else by
    straight lines), with an optional vertical marker."""
    pts = []
    for key, value in points.items():
        try:
            pts.append((float(key), float(value)))
        except (TypeError, ValueError):
            continue
    pts.sort()
    if not pts:
        return _figure(title, '<p class="empty">nothing to draw</p>')
    left, right, top_pad, bottom, height = 46, 14, 22, 40, 240
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    x_max = max(1.0, max(x for x, _ in pts))
    y_max = max(1.0, max(y for _, y in pts))

    def pos(x, y):
        return left + plot_w * x / x_max, top_pad + plot_h * (1 - y / y_max)

    body = [f'<rect x="{left}" y="{top_pad}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d9dde5"/>']
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x, _ = pos(t * x_max, 0)
        _, y = pos(0, t * y_max)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eceef2"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10.5">'
                    f'{esc(fmt_number(round(t * y_max, 2)))}</text>')
        body.append(f'<text x="{x:.1f}" y="{top_pad + plot_h + 14}" text-anchor="middle" font-size="10.5">'
                    f'{esc(fmt_number(round(t * x_max, 2)))}</text>')
    if marker is not None and _is_number(marker):
        mx, _ = pos(float(marker), 0)
        body.append(f'<line x1="{mx:.1f}" y1="{top_pad}" x2="{mx:.1f}" y2="{top_pad + plot_h}" stroke="#c4504f" '
                    f'stroke-dasharray="4 3"/>')
        body.append(f'<text x="{mx + 4:.1f}" y="{top_pad + 12}" font-size="11" fill="#c4504f">threshold '
                    f'{esc(fmt_number(marker))}</text>')
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pos(px, py) for px, py in (curve or pts)))
    body.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for px, py in pts:
        x, y = pos(px, py)
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{PALETTE[0]}"><title>{esc(fmt_number(px))}: '
                    f'{esc(fmt_number(py))}</title></circle>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="11.5">'
                f'{esc(x_label)}</text>')
    body.append(f'<text x="4" y="12" font-size="11.5">{esc(y_label)}</text>')
    return _figure(title, _svg(width, height, title, body))


def stacked_bar(title: str, parts: list[tuple[str, float, str, str]], width: int = 1060) -> str:
    """One bar split into parts (legend label, value, color, short label), with a legend giving each part's
    count and share."""
    total = sum(max(v, 0) for _, v, _, _ in parts)
    if total <= 0:
        return _figure(title, '<p class="empty">nothing to draw</p>')
    height, x = 30, 0.0
    body = []
    for label, value, color, short in parts:
        w = width * max(value, 0) / total
        if w <= 0:
            continue
        body.append(f'<rect x="{x:.1f}" y="2" width="{w:.1f}" height="{height - 4}" fill="{color}">'
                    f'<title>{esc(label)}: {esc(fmt_number(value))} ({100 * value / total:.1f}%)</title></rect>')
        if w > text_width(short) + 12:
            body.append(f'<text x="{x + 6:.1f}" y="{height / 2 + 4:.1f}" font-size="12" fill="#fff" '
                        f'style="fill:#fff">{esc(short)}</text>')
        x += w
    legend = [(f"{label}: {fmt_number(value)} ({100 * value / total:.1f}%)", color)
              for label, value, color, _ in parts]
    return _figure(title, _svg(width, height, title, body), legend=legend)


# --- tables ---------------------------------------------------------------------------------


def kv_table(rows: list[tuple[str, str]], key_header: str = "statistic", value_header: str = "value") -> str:
    """Two columns; values are already HTML."""
    if not rows:
        return '<p class="empty">no statistics</p>'
    body = "".join(f"<tr><th><code>{esc(k)}</code></th><td class=\"num\">{v}</td></tr>" for k, v in rows)
    return f"<table><tr><th>{esc(key_header)}</th><th class=\"num\">{esc(value_header)}</th></tr>{body}</table>"


def records_table(rows: list[dict]) -> str:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns and key not in HIDDEN_KEYS:
                columns.append(key)
    columns.sort(key=lambda c: all(_is_number(r.get(c)) for r in rows if c in r))  # names first, numbers after
    head = "".join(("<th class=\"num\">" if all(_is_number(r.get(c)) for r in rows if c in r) else "<th>")
                   + f"{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            if isinstance(value, (dict, list)) and not (isinstance(value, list) and all(
                    not isinstance(v, (dict, list)) for v in value)):
                cells.append(f"<td><code>{esc(json.dumps(_scrub(value), sort_keys=True))}</code></td>")
            else:
                cls = ' class="num"' if _is_number(value) else ""
                cells.append(f"<td{cls}>{fmt_value(column, value) if value != '' else ''}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _scrub(value):
    """``value`` without entries under hidden keys (document text never reaches the page)."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if str(k) not in HIDDEN_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


# --- generic statistics ---------------------------------------------------------------------


def render_stats(stats: dict, level: int = 3, context: str = "") -> str:
    """Any stats dict: scalars in a table, nested values drawn by shape (see the module docstring)."""
    if not isinstance(stats, dict):
        return f"<p>{fmt_value('', stats)}</p>"
    if not stats:
        return '<p class="empty">no statistics reported</p>'
    scalars, charts, nested = [], [], []
    hidden = 0
    consumed = set()
    for stem, before_key, after_key in _before_after_pairs(stats):
        pair = {"before": stats[before_key], "after": stats[after_key]}
        if is_series_map(pair):
            charts.append(_series_chart(f"{humanize(stem) or context} before / after".strip(), pair,
                                        x_label=humanize(stem)))
            consumed.update((before_key, after_key))
    for key, value in stats.items():
        key = str(key)
        if key in consumed:
            continue
        if key in HIDDEN_KEYS:
            hidden += 1
            continue
        if key == "s_curve" and is_numeric_map(value):
            charts.append(line_chart("LSH S-curve: chance a pair becomes a candidate", value,
                                     "Jaccard similarity", "P(candidate)", marker=stats.get("threshold"),
                                     curve=_s_curve(stats.get("bands"), stats.get("rows"))))
        elif key == "cluster_sizes" and isinstance(value, dict):
            charts.append(histogram_chart("Duplicate cluster sizes", value, x_label="documents per cluster",
                                          y_label="clusters") if value else
                          _figure("Duplicate cluster sizes", '<p class="empty">no clusters</p>'))
        elif is_histogram(value):
            charts.append(histogram_chart(humanize(key), value, x_label=humanize(key)))
        elif is_numeric_map(value):
            fmt = fmt_bytes if _is_bytes_key(key) else fmt_number
            charts.append(hbar_chart(humanize(key), _ordered_items(value), fmt=fmt))
        elif is_series_map(value):
            charts.append(_series_chart(humanize(key), value, x_label=humanize(key)))
        elif isinstance(value, dict) and not value:
            scalars.append((key, '<span class="empty">none</span>'))
        elif isinstance(value, dict):
            nested.append(f"<h{min(level + 1, 6)}>{esc(humanize(key))}</h{min(level + 1, 6)}>"
                          + render_stats(value, level + 1, humanize(key)))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.append(f"<h{min(level + 1, 6)}>{esc(humanize(key))}</h{min(level + 1, 6)}>"
                          + records_table(value))
        elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            scalars.append((key, f"<code>{esc(json.dumps(_scrub(value), sort_keys=True))}</code>"))
        else:
            scalars.append((key, fmt_value(key, value)))
    parts = []
    cells = ([f"<div>{kv_table(scalars)}</div>"] if scalars else []) + charts
    if len(cells) == 1 and scalars:
        parts.append(cells[0])
    elif cells:
        parts.append('<div class="grid2">' + "".join(cells) + "</div>")
    parts.extend(nested)
    if hidden:
        parts.append(f'<p class="empty">{hidden} text field(s) not shown: the page never carries document text.</p>')
    return "".join(parts)


def _before_after_pairs(stats: dict) -> list[tuple[str, str, str]]:
    """Sibling keys ``before``/``after``, ``X_before``/``X_after`` or ``before_X``/``after_X``: (X, before, after)."""
    pairs = []
    for key in stats:
        key = str(key)
        for pattern, swap in ((r"^before$", "after"), (r"^(.+)_before$", r"\1_after"), (r"^before_(.+)$", r"after_\1")):
            match = re.match(pattern, key)
            if not match:
                continue
            other = re.sub(pattern, swap, key)
            if other in stats and isinstance(stats[key], dict) and isinstance(stats[other], dict):
                pairs.append((match.group(1) if match.groups() else "", key, other))
    return pairs


def _series_chart(title: str, series: dict, x_label: str = "") -> str:
    series = {str(k): {str(kk): vv for kk, vv in v.items()} for k, v in series.items()}
    if all(is_histogram(v) or not v for v in series.values()):
        return histogram_chart(title, {}, x_label=x_label, series=series)
    return grouped_hbar_chart(title, series)


# --- the page -------------------------------------------------------------------------------


def _card(label: str, value: str, sub: str = "") -> str:
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return f'<div class="card"><div class="label">{esc(label)}</div><div class="value">{value}</div>{sub_html}</div>'


def _num(mapping, *path, default=None):
    value = mapping
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def _stage_order(names) -> list[str]:
    names = [str(n) for n in names]
    known = [n for n in STAGE_ORDER if n in names]
    return known + [n for n in names if n not in known]


def _summary(report: dict) -> str:
    counts, size, timings = report.get("counts", {}) or {}, report.get("bytes", {}) or {}, report.get("timings", {}) or {}
    removed = counts.get("removed", {}) or {}
    removed_bytes = size.get("removed_text", {}) or {}
    stages = _stage_order(list(removed) + [s for s in removed_bytes if s not in removed])
    total_removed = sum(v for v in removed.values() if _is_number(v))
    total_removed_bytes = sum(v for v in removed_bytes.values() if _is_number(v))
    inp, out, quarantined = counts.get("input"), counts.get("output"), counts.get("quarantined")
    in_bytes, out_bytes = size.get("input_text"), size.get("output_text")
    kept = f"{100 * out / inp:.1f}% of records kept" if _is_number(inp) and inp and _is_number(out) else ""
    kept_bytes = (f"{100 * out_bytes / in_bytes:.1f}% of text kept"
                  if _is_number(in_bytes) and in_bytes and _is_number(out_bytes) else "")
    rate = timings.get("input_mb_per_second")
    cards = [
        _card("records in", esc(fmt_number(inp)), esc(fmt_bytes(in_bytes)) + " text"),
        _card("documents out", esc(fmt_number(out)), esc(fmt_bytes(out_bytes)) + " text"),
        _card("kept", esc(kept.split("%")[0] + "%") if kept else "—", esc(kept_bytes)),
        _card("removed", esc(fmt_number(total_removed)), esc(fmt_bytes(total_removed_bytes)) + " text"),
        _card("quarantined", esc(fmt_number(quarantined)), esc(fmt_bytes(size.get("quarantined_raw"))) + " raw"),
        _card("wall time", esc(fmt_number(timings.get("wall_seconds"))) + " s",
              (esc(fmt_number(rate)) + " MB/s input") if rate is not None else ""),
    ]
    ok = report.get("accounting_ok")
    parts_sum = (out if _is_number(out) else 0) + total_removed + (quarantined if _is_number(quarantined) else 0)
    eq_class = "equation" if ok else "equation bad"
    equation = (f'<p class="{eq_class}">Accounting: input {esc(fmt_number(inp))} {"=" if ok else "≠"} output '
                f'{esc(fmt_number(out))} + removed {esc(fmt_number(total_removed))} + quarantined '
                f'{esc(fmt_number(quarantined))} (= {esc(fmt_number(parts_sum))})'
                f'{"" if ok else " — ACCOUNTING VIOLATED"}</p>')
    flow = [("output", out if _is_number(out) else 0, OUTPUT_COLOR, "output")]
    flow += [(f"removed by {s}", removed.get(s, 0), STAGE_COLORS[i % len(STAGE_COLORS)], s)
             for i, s in enumerate(stages)]
    flow.append(("quarantined", quarantined if _is_number(quarantined) else 0, QUARANTINE_COLOR, "quarantined"))
    rows = []
    for stage in stages:
        rows.append(f"<tr><th><code>{esc(stage)}</code></th><td class=\"num\">{esc(fmt_number(removed.get(stage)))}"
                    f"</td><td class=\"num\">{fmt_value('bytes', removed_bytes.get(stage))}</td>"
                    f"<td class=\"num\">{_share(removed_bytes.get(stage), in_bytes)}</td></tr>")
    removed_table = ("<table><tr><th>stage</th><th class=\"num\">documents removed</th>"
                     "<th class=\"num\">text removed</th><th class=\"num\">share of input text</th></tr>"
                     + "".join(rows) + "</table>") if rows else '<p class="empty">no stage removed anything</p>'
    charts = []
    if stages:
        charts.append(hbar_chart("Bytes removed per stage", [(s, removed_bytes.get(s, 0)) for s in stages],
                                 fmt=fmt_bytes, colors=STAGE_COLORS))
        charts.append(hbar_chart("Documents removed per stage", [(s, removed.get(s, 0)) for s in stages],
                                 colors=STAGE_COLORS))
    by_code = report.get("quarantine_by_code") or {}
    if by_code:
        charts.append(hbar_chart("Quarantined records per error code", _ordered_items(by_code),
                                 colors=(QUARANTINE_COLOR,)))
    return (
        '<section id="summary"><h2>Run summary</h2>'
        f'<div class="cards">{"".join(cards)}</div>{equation}'
        + stacked_bar("Where the input records went", flow)
        + '</section><section id="removed"><h2>Removed and quarantined</h2>'
        + removed_table + '<div class="grid2">' + "".join(charts) + "</div></section>"
    )


def _share(part, whole) -> str:
    if _is_number(part) and _is_number(whole) and whole:
        return esc(f"{100 * part / whole:.2f}%")
    return "—"


def _stages(report: dict) -> str:
    stages = report.get("stages") or {}
    if not stages:
        return '<section id="stages"><h2>Stages</h2><p class="empty">no stage statistics in this report</p></section>'
    parts = ['<section id="stages"><h2>Stages</h2>']
    busy = (report.get("timings") or {}).get("stage_busy_seconds") or {}
    for name in _stage_order(stages):
        title = STAGE_TITLES.get(name, humanize(name))
        extra = []
        removed = _num(report, "counts", "removed", name)
        if removed is not None:
            extra.append(f"removed {esc(fmt_number(removed))} documents, "
                         f"{esc(fmt_bytes(_num(report, 'bytes', 'removed_text', name, default=0)))}")
        if name in busy:
            extra.append(f"busy {esc(fmt_number(busy[name]))} s")
        meta = f'<p class="meta">{" · ".join(extra)}</p>' if extra else ""
        parts.append(f'<div class="stage" id="stage-{esc(name)}"><h3>{esc(title)} <code>{esc(name)}</code></h3>'
                     f'{meta}{render_stats(stages[name], 3, title)}</div>')
    parts.append("</section>")
    return "".join(parts)


def _timings(report: dict) -> str:
    timings = report.get("timings") or {}
    rows = [(k, fmt_value(k, v)) for k, v in timings.items() if not isinstance(v, (dict, list))]
    busy = timings.get("stage_busy_seconds") or {}
    chart = ""
    if is_numeric_map(busy):
        chart = hbar_chart("Busy seconds per stage (where the runner reports them)", _ordered_items(busy),
                           fmt=lambda v: f"{fmt_number(v)} s")
    else:
        rows.append(("stage_busy_seconds", '<span class="empty">not reported by this runner</span>'))
    return f'<section id="timings"><h2>Timings</h2>{kv_table(rows)}{chart}</section>'


def _outputs(report: dict) -> str:
    output = report.get("output") or {}
    if not output:
        return ""
    parts = ['<section id="output"><h2>Output shards</h2>']
    for kind, shards in output.items():
        parts.append(f"<h3>{esc(kind)}/</h3>")
        if isinstance(shards, list) and shards and all(isinstance(s, dict) for s in shards):
            parts.append(records_table(shards))
        elif isinstance(shards, list) and not shards:
            parts.append('<p class="empty">no shards</p>')
        else:
            parts.append(render_stats(shards if isinstance(shards, dict) else {kind: shards}, 4, kind))
    parts.append("</section>")
    return "".join(parts)


def _others(report: dict) -> str:
    extra = [k for k in report if k not in KNOWN_TOP_LEVEL]
    if not extra:
        return ""
    parts = ['<section id="other"><h2>Other sections</h2>']
    for key in extra:
        title = STAGE_TITLES.get(key, humanize(key))
        parts.append(f"<h3>{esc(title)} <code>{esc(key)}</code></h3>")
        value = report[key]
        parts.append(render_stats(value if isinstance(value, dict) else {key: value}, 3, title))
    parts.append("</section>")
    return "".join(parts)


def _config(report: dict) -> str:
    config = report.get("config")
    if config is None:
        return ""
    text = json.dumps(_scrub(config), indent=2, sort_keys=True)
    return ('<section id="config"><h2>Config</h2><details><summary>Show the config this run used (hash '
            f'<code>{esc(report.get("config_hash", "?"))}</code>)</summary><pre>{esc(text)}</pre></details></section>')


def render_report(report: dict) -> str:
    """The whole page for one report.json dict (a pure function: same report, same bytes)."""
    report = report or {}
    version = report.get("demem_version", "?")
    ok = report.get("accounting_ok")
    badge = ('<span class="badge ok">accounting ok</span>' if ok else
             '<span class="badge bad">accounting VIOLATED</span>' if ok is False else
             '<span class="badge bad">accounting unknown</span>')
    header = (
        f'<header><h1>demem run report {badge}</h1><div class="meta">demem <code>{esc(version)}</code> · runner '
        f'<code>{esc(report.get("runner", "?"))}</code> · config hash <code>{esc(report.get("config_hash", "?"))}'
        "</code></div></header>"
    )
    body = header + _summary(report) + _stages(report) + _timings(report) + _outputs(report) + _others(report) \
        + _config(report)
    title = f"demem report · {report.get('runner', '')} · {report.get('config_hash', '')}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def write_html_report(output_dir: str, report: dict) -> str:
    """Write ``DIR/report.html`` through Beam's filesystems (local paths or any Beam URI); returns its path."""
    path = FileSystems.join(output_dir, HTML_REPORT_FILE)
    with FileSystems.create(path) as handle:
        handle.write(render_report(report).encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2:
        print("usage: python -m pipelines.html_report REPORT.json [OUT.html]", file=sys.stderr)
        return 2
    with FileSystems.open(args[0]) as handle:
        report = json.loads(handle.read().decode())
    if len(args) == 2:
        out = args[1]
        with FileSystems.create(out) as handle:
            handle.write(render_report(report).encode("utf-8"))
    else:
        directory = args[0].rsplit("/", 1)[0] if "/" in args[0] else "."
        out = write_html_report(directory, report)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
