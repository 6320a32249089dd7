"""Figures to text, to a retention-curve PNG (matplotlib, Agg canvas) and to an HTML page.

Each line of the text and each table row of the HTML carry the figure's definition in terms of
export columns, so a reader knows exactly how to recompute it.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import IO


def figure_lines(f: dict) -> list[tuple[str, str, str]]:
    """(label, value, definition) for every figure, in reading order.

    Example: ``figure_lines(figures)[0] == ("Attempts", "20", "rows of the export")``
    """
    listen, min_s = f["listen"], f["listen"]["min_listen_s"]
    lines = [
        ("Attempts", str(f["attempts"]), "rows of the export (one per call attempt)"),
        ("Dialled", str(f["dialled"]), "rows with originate_at"),
        ("Answered", f"{f['answered']}  ({_pct(f['answer_rate'])} of dialled)",
         "rows with outcome = answered; answer rate = answered / dialled"),
        ("Unique numbers reached", str(f["unique_numbers_reached"]),
         "distinct number_pseudonym (or number) among answered rows"),
        ("Outcomes", _counts(f["outcomes"]), "rows by outcome (pending: no call record yet)"),
        (f"Listen rate (>= {min_s} s)", _pct(listen["heard_min_rate"]),
         f"answered rows with message_listened_ms >= {min_s * 1000}, / answered"),
        ("Listen rate (whole message)", _pct(listen["heard_full_message_rate"]),
         "answered rows with message_heard_full = true, / answered"),
        ("Message listened", f"mean {_s(f['message_listened_s']['mean'])}, "
                             f"median {_s(f['message_listened_s']['median'])}",
         "message_listened_ms over answered rows (empty counts as 0)"),
        ("Heard the whole notice", _pct(f["notice_heard_full_rate"]),
         "answered rows with notice_heard_full = true, / answered"),
        ("Opt-out rate", _pct(f["optout_rate"]), "answered rows with opted_out = true, / answered"),
        ("AMD", _counts(f["amd"]), "answered rows by amd_result (not-run: empty)"),
        ("Calls per hour", _counts(f["calls_per_hour"]),
         "dialled rows by hour of originate_at"),
        ("Cost estimate", _cost(f["cost"]),
         "sum over answered rows of connected_ms rounded up to the billing increment, x rate"),
    ]
    return lines


def render_text(f: dict) -> str:
    """The report as aligned text lines, each followed by its definition.

    Example: ``print(render_text(figures))``
    """
    head = f"Campaign {', '.join(f['campaigns']) or '-'}"
    if f["retention"]["segments"]:
        head += "  (script: " + ", ".join(
            f"{s['role']} {s['start_ms'] / 1000:.1f}-{s['end_ms'] / 1000:.1f} s"
            for s in f["retention"]["segments"]) + ")"
    out = [head]
    for label, value, definition in figure_lines(f):
        out.append(f"  {label:<28} {value}")
        out.append(f"  {'':<28}   = {definition}")
    return "\n".join(out) + "\n"


def plot_retention(f: dict, target: str | Path | IO[bytes]) -> None:
    """Write the retention curve as a PNG (to a path or a binary stream): % still listening
    per second of the script, segment boundaries marked.

    Example: ``plot_retention(figures, "retention.png")``
    """
    # Imported here: matplotlib costs a second of start-up to every other command.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curve, segments = f["retention"]["curve"], f["retention"]["segments"]
    fig = Figure(figsize=(9, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if curve:
        # The value at second t holds until t + 1: draw the last step to the end of the script.
        xs, ys = [*range(len(curve)), len(curve)], [*curve, curve[-1]]
        ax.step(xs, ys, where="post", color="#1f5fa8", linewidth=2)
        ax.fill_between(xs, ys, step="post", alpha=0.15, color="#1f5fa8")
    else:
        ax.text(0.5, 0.5, "no answered calls", ha="center", va="center", transform=ax.transAxes)
    for i, seg in enumerate(segments):
        start, end = seg["start_ms"] / 1000, seg["end_ms"] / 1000
        ax.axvspan(start, end, color="#888888", alpha=0.06 if i % 2 else 0.0)
        ax.axvline(end, color="#555555", linestyle="--", linewidth=1)
        ax.text((start + end) / 2, 103, seg["role"], ha="center", va="bottom", fontsize=9)
    script_s = segments[-1]["end_ms"] / 1000 if segments else 0
    ax.set_xlim(0, max(script_s, len(curve) - 1, 1))
    ax.set_ylim(0, 110)
    ax.set_yticks(range(0, 101, 20))
    ax.set_xlabel("seconds into the script")
    ax.set_ylabel("% of answered callees still listening")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"Retention: {', '.join(f['campaigns'])} ({f['answered']} answered calls)",
                 fontsize=11, pad=18)
    fig.tight_layout()
    fig.savefig(target, format="png")


def render_html(f: dict, png: bytes | None) -> str:
    """A standalone HTML report: figures with their definitions, the curve embedded (base64).

    Example: ``Path("r.html").write_text(render_html(figures, Path("r.png").read_bytes()))``
    """
    rows = "\n".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td>"
        f"<td class=def>{html.escape(definition)}</td></tr>"
        for label, value, definition in figure_lines(f))
    img = (f'<img alt="retention curve" src="data:image/png;base64,'
           f'{base64.b64encode(png).decode()}">' if png else "")
    title = html.escape(", ".join(f["campaigns"]) or "campaign")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Report: {title}</title>
<style>body{{font-family:sans-serif;max-width:62rem;margin:2rem auto}}
table{{border-collapse:collapse}}th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}}.def{{color:#555;font-size:.9em}}img{{max-width:100%}}</style>
</head><body>
<h1>Campaign report: {title}</h1>
<p>Every figure below is recomputable from <code>sc-asterisk cdr export --campaign
{title}</code>; the third column says how.</p>
<table>
{rows}
</table>
<h2>Retention</h2>
<p>Percentage of answered callees still listening at each second of the script. A callee's
position is the length of the segments heard in full plus what was heard of the next one;
dashed lines mark segment boundaries.</p>
{img}
</body></html>
"""


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f} %"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _counts(counts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items()) or "-"


def _cost(cost: dict | None) -> str:
    if cost is None:
        return "not computed (pass --rate-per-minute)"
    tariffs = "; ".join(f"{t['rate_per_minute']}/min, {t['increment_s']} s increments"
                        for t in cost["tariffs"])
    text = f"{cost['amount']} for {cost['billed_s']} billed s"
    return f"{text} ({tariffs})" if tariffs else text
