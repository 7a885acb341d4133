"""The comparison as HTML: a section for the forecast report, and a page of its own."""

from __future__ import annotations

from html import escape

from lambdas.comparison.comparison import Comparison, MetricComparison

TITLE = "Compared with the approved version"
STYLE = """body { font-family: sans-serif; margin: 2em; color: #222; max-width: 960px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }
.worse { color: #b00020; font-weight: bold; }"""


def comparison_section(comparison: Comparison) -> str:
    """``<h2>`` + verdict + one row per metric (worse ones marked), escaped."""
    parts = [f"<h2>{escape(TITLE)}</h2>", f"<p>{escape(comparison.verdict())}</p>"]
    if comparison.metrics:
        rows = "\n".join(_row(metric) for metric in comparison.metrics)
        parts.append(
            f"<p>Basis: {escape(comparison.basis)}.</p>\n"
            '<table>\n<thead>\n<tr><th scope="col">Test metric (lower is better)</th>'
            f'<th scope="col">New: version {comparison.new_version}</th>'
            f'<th scope="col">Approved: version {comparison.approved_version}</th>'
            '<th scope="col">Change</th><th scope="col">Worse?</th></tr>\n</thead>\n'
            f"<tbody>\n{rows}\n</tbody>\n</table>"
        )
    if comparison.notes and comparison.metrics:
        items = "".join(f"<li>{escape(note)}</li>" for note in comparison.notes)
        parts.append(f"<ul>{items}</ul>")
    for label, names in (
        ("Only the new version's evaluation has", comparison.only_new),
        ("Only the approved version's evaluation has", comparison.only_approved),
    ):
        if names:
            parts.append(f"<p>{escape(label)}: {escape(', '.join(names))}.</p>")
    return "\n".join(parts)


def comparison_page(comparison: Comparison) -> str:
    """A self-contained page, for the registry entry's ``comparison.report`` link."""
    title = f"{comparison.group} version {comparison.new_version}: approval evidence"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{comparison_section(comparison)}\n</body>\n</html>\n"
    )


def _row(metric: MetricComparison) -> str:
    change = metric.relative_change
    change_text = "n/a" if change is None else f"{change * 100:+.1f} %"
    worse = '<td class="worse">worse</td>' if metric.worse else "<td>no</td>"
    return (
        f'<tr><th scope="row">{escape(metric.name)}</th><td>{metric.new:.6g}</td>'
        f"<td>{metric.approved:.6g}</td><td>{escape(change_text)}</td>{worse}</tr>"
    )
