"""The rich table `drill lab up/status` prints."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text


def status_table(st: dict) -> Group:
    title = (
        f"lab {'[green]healthy[/]' if st.get('healthy') else '[red]NOT healthy[/]'} — network "
        f"{st.get('network')}, replication {st.get('replication')}"
    )
    t = Table(title=title, title_justify="left")
    for col in ("component", "zone", "address", "role", "health", "pid"):
        t.add_column(col, no_wrap=col in ("component", "address"))
    for c in st.get("components", []):
        mark = "[green]✔[/]" if c["ok"] else "[yellow]✘[/]" if c.get("optional") else "[red]✘[/]"
        t.add_row(c["name"], c["zone"], c["address"], c["role"], f"{mark} {c['health']}", str(c.get("pid") or "-"))
    lines = [t]
    b = st.get("backup")
    if b:
        lines.append(Text(f"backup: full {b['base']} ({b['repository']}), WAL segments archived: {b['wal_files']}"))
    for name, value in (st.get("endpoints") or {}).items():
        lines.append(Text(f"{name:12} {value}"))
    for p in st.get("problems", [])[:10]:
        lines.append(Text(f"problem: {p}", style="red"))
    for w in st.get("warnings", [])[:10]:
        lines.append(Text(f"warning: {w} (monitoring: not part of the lab's health)", style="yellow"))
    return Group(*lines)
