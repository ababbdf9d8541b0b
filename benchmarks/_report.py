"""The table: medians per framework, futurelab/peer ratios, futurelab's targets, n/a reasons."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._spec import MODES, PEERS, Metric, sizes, title, workload

if TYPE_CHECKING:
    from ._runner import Config

LEGEND = """\
Values are medians over every sample of every round. "ratio" = futurelab value / peer value,
for every metric. Where higher is better (tasks/s, MB/s, %), a ratio > 1 means futurelab is
ahead; where lower is better (us, s, B/task), a ratio < 1 means futurelab is ahead. Each ratio
is tagged "ahead" or "behind" so the direction never has to be worked out. The target column
is futurelab's absolute target from issue 11 and whether futurelab meets it."""


def fmt(value: float) -> str:
    size = abs(value)
    if size >= 10_000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio_text(metric: Metric, ours: float | None, theirs: float | None) -> str:
    if metric.reference or ours is None or theirs is None:
        return ""
    if theirs == 0:
        return "inf"
    ratio = ours / theirs
    if ratio == 1:
        return "1.00x even"
    ahead = ratio > 1 if metric.higher_is_better else ratio < 1
    if 0.01 <= ratio < 100:
        number = f"{ratio:.2f}"
    else:
        number = f"{ratio:.2g}" if ratio < 1 else f"{ratio:.0f}"
    return f"{number}x {'ahead' if ahead else 'behind'}"


def target_text(metric: Metric, mode: str, ours: float | None) -> str:
    if metric.target is None or mode not in metric.target_modes:
        return ""
    op, bound = metric.target
    text = f"{'>=' if op == '>=' else '<='} {fmt(bound)}"
    if ours is None:
        return text
    return f"{text}: {'met' if metric.meets(ours) else 'MISSED'}"


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    cells = [header, *(r for r in rows if len(r) > 1)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [False, False] + [True] * (len(header) - 2)
    numeric[-1] = False

    def line(cells: list[str]) -> str:
        if len(cells) == 1:  # a section title
            return cells[0]
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric)).rstrip()
    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return out


def render(summary: dict[Config, dict[str, dict[str, Any]]], frameworks: dict[str, Any],
           unavailable: dict[Config, str], machine: dict[str, Any], settings: dict[str, Any],
           configs: list[Config]) -> str:
    out = ["", "futurelab benchmarks",
           (f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']}, "
            f"{machine['platform']}, Python {machine['python']}")]
    for name, info in frameworks.items():
        if info["status"] == "not installed":
            out.append(f"  {name}: not installed (skipped)")
        else:
            out.append(f"  {name}: {info.get('version')} ({info.get('location')})")
    for cfg, why in unavailable.items():
        out.append(f"  {cfg}: unavailable, skipped: {why}")
    out.append(f"run: {'--quick, ' if settings['quick'] else ''}{settings['rounds']} round(s), "
               f"up to {settings['repeat']} repeat(s) per child, "
               f"{settings['elapsed_s']:.0f} s in all; children's logs: {settings['log']}")
    out += ["", LEGEND]
    used = {**sizes(settings["quick"]), **settings.get("sizes", {})}

    for mode, shape in MODES.items():
        cfgs = [c for c in configs if c.mode == mode]
        if not cfgs:
            continue
        by_fw = {c.framework: summary[c] for c in cfgs}
        fws = list(by_fw)
        peers = [p for p in PEERS if p in by_fw] if "futurelab" in by_fw else []
        header = ["metric", "unit (better)", *fws, *(f"futurelab/{p}" for p in peers),
                  "futurelab target"]
        rows: list[list[str]] = []
        footnotes: dict[str, int] = {}
        notes: dict[tuple[str, str], list[str]] = {}
        for name in settings["workloads"]:
            wl = workload(name)
            rows.append([f"{wl.name}: {title(wl, used)}"])
            for metric in wl.metrics:
                cells = [f"  {metric.label}",
                         f"{metric.unit} ({'higher' if metric.higher_is_better else 'lower'})"]
                medians: dict[str, float | None] = {}
                for fw in fws:
                    slot = by_fw[fw].get(metric.key, {})
                    value = medians[fw] = slot.get("median")
                    if value is not None:
                        cells.append(fmt(value))
                    else:
                        why = f"{fw}: {(slot.get('na') or ['not measured'])[0]}"
                        number = footnotes.setdefault(why, len(footnotes) + 1)
                        cells.append(f"n/a [{number}]")
                    for note in slot.get("notes", []):
                        notes.setdefault((metric.label, note), []).append(fw)
                ours = medians.get("futurelab")
                cells += [ratio_text(metric, ours, medians[p]) for p in peers]
                cells.append(target_text(metric, mode, ours) if "futurelab" in by_fw else "")
                rows.append(cells)
        out += ["", f"== {mode} mode: {shape} ==", *_table(rows, header)]
        if footnotes:
            out.append("n/a reasons:")
            out += [f"  [{n}] {why}" for why, n in footnotes.items()]
        if notes:
            out.append("notes:")
            out += [f"  {label} [{', '.join(fws)}]: {note}" for (label, note), fws in notes.items()]
    return "\n".join(out)
