"""What the user sees while a long job runs: a live rich display on a terminal, plain lines
elsewhere (a pipe, a CI log), with a heartbeat so that plain output never goes silent."""

from __future__ import annotations

import sys
import threading
import time

from rich.markup import escape
from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

from accelbench.report.terminal import make_console


class Progress:
    """What the user sees while the run goes on: a live rich display on a terminal, plain lines
    elsewhere (and with --quiet only the stage lessons). A heartbeat line every few seconds keeps
    plain output from going silent during a long measurement."""

    def __init__(self, total_s: float | None, *, quiet: bool = False, live: bool | None = None,
                 heartbeat_s: float = 5.0, stderr: bool = False):
        """``total_s``: the expected duration (None: not known in advance, no time left is shown);
        ``stderr``: every line goes to stderr (stdout carries machine output such as JSON)."""
        self.quiet = quiet
        stream = sys.stderr if stderr else sys.stdout
        self.live = (stream.isatty() if live is None else live) and not quiet
        # Plain output (a pipe, a CI log) keeps each line whole instead of wrapping it.
        self.console = make_console(soft_wrap=not self.live, stderr=stderr)
        self.total_s = total_s
        self.started = time.monotonic()
        self.heartbeat_s = heartbeat_s
        self._progress = None
        self._task = None
        self._stop = None
        self._current = ""

    def __enter__(self) -> "Progress":
        if self.live:
            self._progress = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[eta]}"),
                TimeElapsedColumn(), console=self.console, transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=self.total_s, eta="")
        if not self.quiet:
            self._stop = threading.Event()
            threading.Thread(target=self._heartbeat, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def _heartbeat(self) -> None:
        """Live: the bar and the time left move on between steps; plain: a line every ``heartbeat_s``."""
        last = time.monotonic()
        while not self._stop.wait(0.5 if self._progress is not None else min(1.0, self.heartbeat_s)):
            if self._progress is not None:
                self._progress.update(self._task, completed=self._completed(), eta=self.eta_text())
            elif self._current and time.monotonic() - last >= self.heartbeat_s:
                last = time.monotonic()
                self.console.print(f"  ... {self._current} ({self.elapsed_s:.0f} s elapsed, {self.eta_text()})",
                                   markup=False)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def eta_text(self) -> str:
        if self.total_s is None:
            return "duration not known in advance"
        left = max(0.0, self.total_s - self.elapsed_s)
        return f"about {left:.0f} s left" if left else "finishing"

    def _completed(self) -> float:
        return self.elapsed_s if self.total_s is None else min(self.elapsed_s, self.total_s)

    def step(self, text: str) -> None:
        """A configuration starts (``text`` is plain: model names and paths are never read as markup)."""
        self._current = text
        if self._progress is not None:
            self._progress.update(self._task, description=escape(text), completed=self._completed(),
                                  eta=self.eta_text())
        elif not self.quiet:
            self.console.print(f"  {text} ...", markup=False)

    def done(self, text: str) -> None:
        """A configuration finished (one result line)."""
        self._current = ""
        if self._progress is not None:
            self._progress.update(self._task, completed=self._completed())
        if not self.quiet:
            self.console.print(f"    {text}", markup=False)

    def say(self, text: str = "", *, always: bool = False, markup: bool = True) -> None:
        """A line; ``markup=False`` for text that holds user strings (model names, paths, lessons)."""
        if always or not self.quiet:
            self.console.print(text, markup=markup)
