"""Colours, number formatting and the dashboard's CSS (one place, so panels look alike).

>>> team_colour("Ferrari")
'#F91536'
>>> team_colour("Unknown Racing", fallback="#888888")
'#888888'
>>> fmt_num(287.456, 1), fmt_num(None), fmt_pct(0.1234)
('287.5', '—', '12.3 %')
>>> fmt_clock(3725.4)
'1:02:05.4'
"""

from __future__ import annotations

import html
import math
from typing import Any

#: 2023/2024 team colours as published by F1 live timing (``TeamColour``); used when the
#: session metadata does not carry them.
TEAM_COLOURS: dict[str, str] = {
    "Red Bull Racing": "#3671C6",
    "Ferrari": "#F91536",
    "Mercedes": "#6CD3BF",
    "McLaren": "#F58020",
    "Aston Martin": "#358C75",
    "Alpine": "#2293D1",
    "Williams": "#37BEDD",
    "AlphaTauri": "#5E8FAA",
    "RB": "#6692FF",
    "Alfa Romeo": "#C92D4B",
    "Kick Sauber": "#52E252",
    "Haas F1 Team": "#B6BABD",
}

#: Pirelli sidewall colours.
COMPOUND_COLOURS: dict[str, str] = {
    "SOFT": "#DA291C",
    "MEDIUM": "#FFD12E",
    "HARD": "#F0F0EC",
    "INTERMEDIATE": "#43B02A",
    "WET": "#0067AD",
}

#: Fallback palette for drivers whose team is unknown (e.g. simulated sessions).
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#fabebe",
    "#008080",
    "#e6beff",
    "#9a6324",
    "#800000",
    "#aaffc3",
    "#808000",
    "#ffd8b1",
    "#000075",
    "#808080",
    "#ff7f7f",
)

ACCENT = "#e10600"  # F1 red
MUTED = "#6b7280"
FONT = "'Titillium Web', 'Helvetica Neue', Arial, sans-serif"


def team_colour(team: str | None, fallback: str = "#9ca3af") -> str:
    """The team's colour as ``#RRGGBB`` (``fallback`` when unknown)."""
    if not team:
        return fallback
    return TEAM_COLOURS.get(str(team), fallback)


def normalise_hex(colour: Any, fallback: str) -> str:
    """``'3671C6'`` / ``'#3671c6'`` -> ``'#3671C6'``; anything else -> ``fallback``.

    >>> normalise_hex("3671c6", "#000000"), normalise_hex(None, "#000000")
    ('#3671C6', '#000000')
    """
    if not isinstance(colour, str):
        return fallback
    c = colour.strip().lstrip("#")
    if len(c) == 6 and all(ch in "0123456789abcdefABCDEF" for ch in c):
        return "#" + c.upper()
    return fallback


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_num(x: Any, digits: int = 0) -> str:
    """A number with ``digits`` decimals, or an em dash when missing."""
    v = _finite(x)
    return "—" if v is None else f"{v:,.{digits}f}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    """A 0–1 probability as a percentage."""
    v = _finite(x)
    return "—" if v is None else f"{100 * v:.{digits}f} %"


def fmt_clock(seconds: Any) -> str:
    """Session time in seconds as ``h:mm:ss.s``."""
    v = _finite(seconds)
    if v is None:
        return "—"
    sign = "-" if v < 0 else ""
    v = abs(v)
    h, rem = divmod(v, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{int(h)}:{int(m):02d}:{s:04.1f}"


def esc(x: Any) -> str:
    """HTML-escape anything for an ``HTML`` widget."""
    return html.escape("" if x is None else str(x))


def risk_colour(p: Any) -> str:
    """Green → amber → red for a 0–1 risk."""
    v = _finite(p)
    if v is None:
        return MUTED
    if v < 0.3:
        return "#16a34a"
    if v < 0.6:
        return "#d97706"
    return "#dc2626"


#: Injected once by the dashboard (an HTML widget with a <style> block): the panels use
#: these classes so the whole page shares one look.
CSS = f"""
<style>
.f1-root {{ font-family: {FONT}; color: #111827; }}
.f1-root .widget-html-content {{ font-family: {FONT}; }}
.f1-card {{ background: #ffffff; border: 1px solid #e5e7eb; border-radius: 10px;
  box-shadow: 0 1px 3px rgba(0,0,0,.08); padding: 8px 12px; margin: 4px; }}
.f1-card-title {{ font-weight: 700; font-size: 13px; letter-spacing: .06em; text-transform: uppercase;
  color: #374151; border-left: 4px solid {ACCENT}; padding-left: 8px; margin: 2px 0 6px 0; }}
.f1-header {{ background: #15151e; color: #fff; border-radius: 10px; padding: 8px 16px;
  display: flex; align-items: center; gap: 18px; margin: 4px; }}
.f1-header .f1-brand {{ font-size: 22px; font-weight: 800; letter-spacing: .04em; }}
.f1-header .f1-brand b {{ color: {ACCENT}; }}
.f1-header .f1-meta {{ font-size: 14px; color: #d1d5db; }}
.f1-header .f1-clock {{ font-size: 22px; font-variant-numeric: tabular-nums; margin-left: auto; }}
.f1-chip {{ display: inline-block; border-radius: 999px; padding: 1px 9px; font-size: 12px;
  font-weight: 600; margin-right: 4px; color: #fff; background: {MUTED}; }}
.f1-chip.ok {{ background: #16a34a; }} .f1-chip.warn {{ background: #d97706; }}
.f1-chip.bad {{ background: #dc2626; }} .f1-chip.idle {{ background: {MUTED}; }}
.f1-simulated {{ background: repeating-linear-gradient(45deg, #b91c1c, #b91c1c 18px, #dc2626 18px, #dc2626 36px);
  color: #fff; font-weight: 900; font-size: 20px; text-align: center; letter-spacing: .2em;
  padding: 6px; border-radius: 10px; margin: 4px; }}
.f1-tiles {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(96px, 1fr)); gap: 6px; }}
.f1-tile {{ background: #f9fafb; border: 1px solid #eef0f3; border-radius: 8px; padding: 4px 8px; }}
.f1-tile .k {{ font-size: 11px; color: {MUTED}; text-transform: uppercase; letter-spacing: .05em; }}
.f1-tile .v {{ font-size: 22px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.2; }}
.f1-tile .u {{ font-size: 11px; color: {MUTED}; margin-left: 2px; }}
.f1-table {{ border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }}
.f1-table th {{ text-align: left; color: {MUTED}; font-weight: 600; font-size: 11px; text-transform: uppercase;
  border-bottom: 1px solid #e5e7eb; padding: 3px 6px; position: sticky; top: 0; background: #fff; }}
.f1-table td {{ padding: 2px 6px; border-bottom: 1px solid #f3f4f6; white-space: nowrap; }}
.f1-table tr.sel td {{ background: #fef2f2; }}
.f1-scroll {{ max-height: 300px; overflow-y: auto; }}
.f1-tabs {{ width: auto !important; }}  /* ipywidgets: width 100% plus its margin overflowed the page by 2 px */
.f1-swatch {{ display: inline-block; width: 4px; height: 14px; border-radius: 2px; vertical-align: middle; margin-right: 6px; }}
.f1-tyre {{ display: inline-block; width: 14px; height: 14px; border-radius: 50%; border: 3px solid; box-sizing: border-box;
  vertical-align: middle; margin-right: 4px; background: #111; }}
.f1-bar {{ display: inline-block; height: 8px; border-radius: 4px; vertical-align: middle; }}
.f1-note {{ font-size: 12px; color: {MUTED}; }}
.f1-evidence {{ font-size: 12px; color: #374151; background: #f9fafb; border-left: 3px solid #9ca3af; padding: 2px 8px; margin: 4px 0; }}
.f1-evidence ul {{ margin: 2px 0; padding-left: 16px; }}
.f1-help {{ cursor: help; color: {MUTED}; border-bottom: 1px dotted {MUTED}; }}
.f1-flag {{ font-size: 11px; font-weight: 700; border-radius: 4px; padding: 0 5px; color: #fff; }}
</style>
"""


def tile(label: str, value: str, unit: str = "", colour: str | None = None, title: str = "") -> str:
    """One number tile (label over a big value) as HTML."""
    style = f' style="color:{colour}"' if colour else ""
    tip = f' title="{esc(title)}"' if title else ""
    u = f'<span class="u">{esc(unit)}</span>' if unit else ""
    return f'<div class="f1-tile"{tip}><div class="k">{esc(label)}</div><div class="v"{style}>{value}{u}</div></div>'


def chip(text: str, level: str) -> str:
    """A status pill; ``level`` is ``ok``, ``warn``, ``bad`` or ``idle``."""
    return f'<span class="f1-chip {level}">{esc(text)}</span>'


def title_html(text: str, help_text: str = "") -> str:
    """A card title, with an optional hover help."""
    h = f' <span class="f1-help" title="{esc(help_text)}">?</span>' if help_text else ""
    return f'<div class="f1-card-title">{esc(text)}{h}</div>'
