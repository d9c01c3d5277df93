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
from textual.widgets.data_table import ColumnKey

from .monitor import COLUMNS, DeviceRow, FleetState, cells, matches, summary_line


class MonitorApp(App[None]):
    """Redraws the fleet every ``refresh_s`` from a :class:`FleetState` filled by the MQTT thread."""

    TITLE = "mammoedge fleet"
    CSS = """
    #top { dock: top; height: 2; background: $panel; }
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
        self._columns: list[ColumnKey] = []
        self._drawn: dict[str, list[Text]] = {}  # row key -> cells as drawn
        self._scroll_wanted: float | None = None  # the page to restore after a rebuild, until it is restored

    def compose(self) -> ComposeResult:
        yield Static("", id="top")  # title line and summary line: fixed, the table scrolls under them
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: words in device, site, state, problem, version (Enter; Esc clears)",
                    id="filter")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self._columns = table.add_columns(*(title for title, _ in COLUMNS))
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
        clock = time.strftime("%H:%M:%S", time.gmtime(now))
        title = Text(f"mammoedge fleet monitor  {self.broker}  {clock} UTC  ({order}{shown})", style="bold",
                     no_wrap=True)
        line = Text(summary_line(all_rows, self.state), no_wrap=True, overflow="ellipsis")
        self.query_one("#top", Static).update(Text("\n").join([title, line]))
        drawn = {f"{r.site}/{r.device}": [self._cell(c, r) for c in cells(r, now)] for r in rows}
        if list(drawn) == list(self._drawn):  # same rows in the same order: change cells in place (page kept)
            for key, new in drawn.items():
                for column, old_cell, new_cell in zip(self._columns, self._drawn[key], new):
                    if old_cell != new_cell:
                        table.update_cell(key, column, new_cell)
        else:
            # two rebuilds before the screen refreshes: the second must not read the cleared table's scroll (0)
            cursor = table.cursor_row
            scroll = table.scroll_y if self._scroll_wanted is None else self._scroll_wanted
            table.clear()
            for key, row_cells in drawn.items():
                table.add_row(*row_cells, key=key)
            if rows:
                table.move_cursor(row=min(cursor, len(rows) - 1), animate=False, scroll=False)
                self._scroll_wanted = scroll
                self.call_after_refresh(self._restore_scroll)
        self._drawn = drawn

    def _restore_scroll(self) -> None:
        if self._scroll_wanted is not None:
            self.query_one(DataTable).scroll_to(y=self._scroll_wanted, animate=False)
            self._scroll_wanted = None

    @staticmethod
    def _cell(text: str, row: DeviceRow) -> Text:
        problems = row.problems
        style = "bold red" if problems and problems[0] in ("offline", "silent") else ("yellow" if problems else "")
        return Text(text, style=style, no_wrap=True)

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
