"""``mammoedge fleet monitor`` as a terminal UI (Textual): fixed header and summary, problem-first rows,
a filter, paging; the table scrolls under the header and never wraps.

Keys: ``/`` filter (Enter applies, Escape clears), ``s`` sort problem-first or by name, PageUp/PageDown
and the arrows page and move, ``q`` quits.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Static

from .monitor import COLUMNS, DeviceRow, FleetState, cells, matches, summary_line


class MonitorApp(App[None]):
    """Redraws the fleet every ``refresh_s`` from a :class:`FleetState` filled by the MQTT thread."""

    TITLE = "mammoedge fleet"
    CSS = """
    #title { dock: top; height: 1; background: $primary; color: $text; text-style: bold; }
    #summary { dock: top; height: 1; background: $panel; }
    #filter { dock: bottom; height: 3; display: none; }
    #filter.shown { display: block; }
    DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("s", "sort", "Sort"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, state: FleetState, *, broker: str, refresh_s: float = 2.0) -> None:
        super().__init__()
        self.state, self.broker, self.refresh_s = state, broker, refresh_s
        self.filter_text = ""
        self.problem_first = True

    def compose(self) -> ComposeResult:
        yield Static(f"mammoedge fleet monitor  {self.broker}", id="title")
        yield Static("", id="summary")
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: words in device, site, state, problem, version (Enter; Esc clears)",
                    id="filter")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*(title for title, _ in COLUMNS))
        table.fixed_columns = 1
        self.redraw()
        self.set_interval(self.refresh_s, self.redraw)

    def _visible(self, now: float) -> list[DeviceRow]:
        rows = [r for r in self.state.rows(now) if matches(r, self.filter_text)]
        if not self.problem_first:
            rows.sort(key=lambda r: (r.site, r.device))
        return rows

    def redraw(self) -> None:
        now = time.time()
        table = self.query_one(DataTable)
        all_rows = self.state.rows(now)
        rows = self._visible(now)
        shown = f" | filter '{self.filter_text}': {len(rows)} shown" if self.filter_text else ""
        order = "problem-first" if self.problem_first else "by name"
        self.query_one("#summary", Static).update(summary_line(all_rows, self.state, now) + f" | {order}{shown}")
        cursor, scroll = table.cursor_row, table.scroll_y
        table.clear()
        for row in rows:
            style = "bold red" if row.problems and row.problems[0] in ("offline", "silent") else (
                "yellow" if row.problems else "")
            table.add_row(*(Text(c, style=style, no_wrap=True) for c in cells(row, now)),
                          key=f"{row.site}/{row.device}")
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
            table.scroll_to(y=scroll, animate=False)

    def action_filter(self) -> None:
        box = self.query_one(Input)
        box.add_class("shown")
        box.value = self.filter_text
        box.focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.filter_text = message.value.strip()
        message.input.remove_class("shown")
        self.query_one(DataTable).focus()
        self.redraw()

    def action_clear_filter(self) -> None:
        self.filter_text = ""
        self.query_one(Input).remove_class("shown")
        self.query_one(DataTable).focus()
        self.redraw()

    def action_sort(self) -> None:
        self.problem_first = not self.problem_first
        self.redraw()


def run_tui(state: FleetState, *, broker: str, refresh_s: float, filter_text: str = "") -> None:
    app = MonitorApp(state, broker=broker, refresh_s=refresh_s)
    app.filter_text = filter_text
    app.run()
