"""The live display of a sweep: done / failed / left, what is in flight and an ETA.

On a terminal a rich bar (finished configurations above it, one line each); piped output (a CI
log, `| tee`) and --quiet degrade to plain lines, with a heartbeat line while measurements run
so that a log never goes silent. Knows nothing of executors: the sweep driver tells it what
finished, and the ETA.
"""

from __future__ import annotations

import sys
import threading
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

from accelbench.report.terminal import make_console
from accelbench.report.units import fmt_duration


class SweepProgress:
    def __init__(self, to_measure: int, *, eta_s: float, quiet: bool = False, live: bool | None = None,
                 heartbeat_s: float = 10.0):
        self.total = to_measure
        self.done = 0
        self.failed = 0
        self.in_flight = 0
        self.eta_s = eta_s
        self.quiet = quiet
        self.live = (sys.stdout.isatty() if live is None else live) and not quiet
        self.console = make_console(soft_wrap=not self.live)
        self.heartbeat_s = heartbeat_s
        self.started = time.monotonic()
        self._bar = None
        self._task = None
        self._stop: threading.Event | None = None

    # -- what the driver tells it ----------------------------------------------------------------
    @property
    def left(self) -> int:
        return self.total - self.done - self.failed

    def counts(self) -> str:
        return f"done {self.done}, failed {self.failed}, left {self.left}"

    def status(self) -> str:
        eta = "finishing" if self.left == 0 else f"ETA {fmt_duration(self.eta_s)}"
        flight = f", {self.in_flight} running" if self.in_flight else ""
        return f"{self.counts()}{flight}; {eta}"

    def update(self, *, in_flight: int, eta_s: float) -> None:
        self.in_flight, self.eta_s = in_flight, eta_s
        self._refresh()

    def finished(self, ok: bool, line: str, *, in_flight: int, eta_s: float) -> None:
        """One configuration finished (``line``: what it measured, or why it failed)."""
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self.in_flight, self.eta_s = in_flight, eta_s
        if not self.quiet:
            self.console.print(f"  [{self.done + self.failed}/{self.total}] {line}", markup=False)
        self._refresh()

    def say(self, text: str = "", *, always: bool = False) -> None:
        if always or not self.quiet:
            self.console.print(text, markup=False)

    # -- display -------------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done + self.failed, description=self.counts(),
                             eta=self.status().rpartition("; ")[2])

    def __enter__(self) -> "SweepProgress":
        if self.live:
            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[eta]}"), TimeElapsedColumn(), console=self.console,
                                 transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.counts(), total=max(self.total, 1), eta="")
            self._refresh()
        elif not self.quiet:
            self._stop = threading.Event()
            threading.Thread(target=self._heartbeat, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        if self._stop is not None:
            self._stop.set()

    def _heartbeat(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(1.0):
            if self.left and time.monotonic() - last >= self.heartbeat_s:
                last = time.monotonic()
                elapsed = time.monotonic() - self.started
                self.console.print(f"  ... {self.status()} ({fmt_duration(elapsed)} elapsed)", markup=False)
