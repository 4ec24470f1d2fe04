"""The accelbench command line (click).

``app`` is the root group. Each command lives in a module of this package and registers itself on
``app`` when imported; ``COMMANDS`` is the one list of them: the module that defines each command
and the one-line summary that `accelbench --help` shows. A command's module is imported only when
that command runs (or shows its own help), so start-up imports no command module: each module
imports what its command needs at its top. A command listed here whose module is missing or does
not define it is an error, never skipped.

``main`` is the one place that turns errors into exit codes: UserError -> 2 with one line on
stderr; click's own usage errors -> 2 with one line too (no usage block); anything unexpected -> 1
with a short message and a hint to rerun with --debug for the traceback; Ctrl-C -> 130 and SIGTERM
-> 143, both raised as exceptions so that every ``finally`` runs (measurement workers stopped, temp
files removed, the run's summary left marked interrupted). Warnings of accelbench
(``errors.AccelbenchWarning``) print as one ``warning:`` line on stderr. --debug travels in the click
context object (``CliState``), not in the environment.

Every command takes ``--config FILE.toml`` (added here when the command is loaded): the file's keys
are the commands' long option names (and MODEL), global at the top of the file and per command in
``[bench]``, ``[run]``, ``[models.save]`` ... sections; they become the command's defaults (click's
``default_map``), so that a flag on the command line still wins, then the command's section, then
the global keys. A key that is not an option (of the section's command; of any command, for a global
one) or a section that is not a command is a one-line error that names what is allowed.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
import tomllib
import warnings
from dataclasses import dataclass
from typing import Any

import click

from accelbench import __version__
from accelbench.errors import AccelbenchWarning, UserError, one_line


@dataclass(frozen=True)
class CommandEntry:
    module: str  # accelbench.cli.<module> defines the command
    summary: str  # the first sentence of the command's help: what `accelbench --help` lists


# command name -> where it lives; tests check every summary against its command's own help.
COMMANDS: dict[str, CommandEntry] = {
    "bench": CommandEntry("bench", "Measure MODEL (zoo name or .onnx file) on a real runtime and store the record."),
    "calibrate": CommandEntry("project", "Fit a device's compute efficiency, DRAM efficiency and per-layer overhead "
                                         "to `accelbench bench` measurements in the results store: only stable, "
                                         "full-size single-stream or offline records of the device (the others are "
                                         "listed with the reason); shows the fitted (in-sample) error beside the "
                                         "leave-one-measurement-out error; saves the fit for `project` (file: see "
                                         "docs/projection.md)."),
    "compare": CommandEntry("report", "Compare A and B side by side (record ids, run ids, or run:ID / record:ID): "
                                      "ratio B/A and whether each difference is larger than the measurement noise "
                                      "(95 % CIs overlapping or not)."),
    "devices": CommandEntry("tops", "List the device catalog: peaks per precision, on-chip SRAM, DRAM bandwidth, "
                                    "TDP, price."),
    "export": CommandEntry("sweep", "Write runs (records with raw samples, environment, provenance; summaries) to a "
                                    "versioned JSON file."),
    "merge": CommandEntry("sweep", "Add exported results (accelbench export) to a store: all of them, or none."),
    "models": CommandEntry("models", "List the zoo models: what each stands for, task, parameters, MACs and layers "
                                     "at the default size, the sizes each accepts (docs/models.md)."),
    "profile": CommandEntry("profile", "Per-layer MACs, parameters, weight and activation bytes, arithmetic "
                                       "intensity, and the model's largest activation and peak live activation "
                                       "memory (see docs/profiling.md for the conventions)."),
    "project": CommandEntry("project", "Project MODEL onto accelerators you do not own: latency at batch 1, "
                                       "throughput at the best batch (1..256 within DRAM), MAC utilization, what "
                                       "bounds each layer, energy (TDP estimate), throughput per W and per $, each "
                                       "with its 80 % interval."),
    "rank": CommandEntry("project", "Rank every catalog device by PROJECTED throughput on MODEL (and per W, per $), "
                                    "beside its rank by peak TOPS, with Spearman's rank correlation between the two."),
    "report": CommandEntry("report", "Write a self-contained HTML report of one run (opens offline: plotly.js is "
                                     "inlined)."),
    "results": CommandEntry("bench", "List or export stored measurements."),
    "run": CommandEntry("run", "Walk the four stages of inference benchmarking on this machine and end with an "
                               "answer."),
    "sweep": CommandEntry("sweep", "Measure every configuration of PLAN (a TOML file: axes, exclude/include rules, "
                                   "measurement settings; see docs/sweep.md) once."),
    "tops": CommandEntry("tops", "Peak TOPS of DEVICE per precision, with the arithmetic (MACs x GHz x 2; 1K MACs "
                                 "at 1 GHz = 2 TOPS)."),
    "worker": CommandEntry("sweep", "Start a Ray node that offers this machine's devices to sweeps (wraps "
                                    "`ray start`)."),
}


@dataclass
class CliState:
    """What the root group's options set for the whole invocation (the click context object)."""

    debug: bool = False


CONFIG_HELP = ("Take options from a TOML file: keys are the long option names, at the top for every command, "
               "under [COMMAND] for one; options given here win.")


def option_keys(command: click.Command) -> dict[str, tuple[click.Parameter, bool]]:
    """The config keys of ``command``: long option names (a flag's --no-X too: then the value is
    inverted) and argument names, each -> (parameter, inverted)."""
    keys: dict[str, tuple[click.Parameter, bool]] = {}
    for param in command.params:
        if param.name == "config" or not param.expose_value:
            continue
        if isinstance(param, click.Argument):
            keys[param.name] = (param, False)
            continue
        for names, inverted in ((param.opts, False), (param.secondary_opts, True)):
            for name in names:
                if name.startswith("--"):
                    keys[name[2:]] = (param, inverted)
    return keys


def _config_value(where: str, key: str, param: click.Parameter, inverted: bool, value: Any) -> Any:
    """A TOML value as click takes the option's default: a list for a repeatable option, a bool for a flag."""
    if isinstance(value, dict):
        raise UserError(f"config: {where} {key}: a value, not a table; got [{key}]")
    if getattr(param, "is_flag", False) and not getattr(param, "multiple", False):
        if not isinstance(value, bool):
            raise UserError(f"config: {where} {key}: true or false; got {value!r}")
        return not value if inverted else value
    if param.multiple or param.nargs == -1:  # a repeatable option, or an argument that takes any number (FILE...)
        return tuple(str(v) for v in (value if isinstance(value, list) else [value]))
    if isinstance(value, list):
        raise UserError(f"config: {where} {key}: one value, not a list; got {value!r}")
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else value


def _section(data: dict, path: list[str]) -> dict:
    node: Any = data
    for name in path:
        node = node.get(name, {}) if isinstance(node, dict) else {}
    return {k: v for k, v in node.items() if not isinstance(v, dict)} if isinstance(node, dict) else {}


def _commands(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()):
    """(path, command) of every command under ``group`` (each module imported)."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None:
            continue
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, (*path, name))


def read_config(ctx: click.Context, path: str) -> dict[str, Any]:
    """The default_map of the command of ``ctx`` from the TOML file ``path`` (module docstring);
    every section and global key of the file checked against the commands."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise UserError(f"config: cannot read {path!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config: {path!r} is not valid TOML: {exc}") from None
    root = ctx.find_root()
    here = tuple(ctx.command_path.split()[1:])  # "accelbench models save" -> ("models", "save")
    commands = dict(_commands(root.command, root)) if isinstance(root.command, click.Group) else {}
    commands.setdefault(here, ctx.command)

    def check_sections(node: dict, prefix: tuple[str, ...]) -> None:
        for name, value in node.items():
            if not isinstance(value, dict):
                continue
            where = (*prefix, name)
            if where not in commands:
                known = sorted(" ".join(p) for p in commands if len(p) == len(where) and p[:-1] == prefix)
                raise UserError(f"config: {path}: [{'.'.join(where)}] is not a command; commands: {', '.join(known)}")
            keys = option_keys(commands[where])
            for key, item in value.items():
                if isinstance(item, dict):
                    continue  # a subcommand's section: checked below
                if key not in keys:
                    raise UserError(f"config: {path}: [{'.'.join(where)}] {key!r} is not an option of "
                                    f"{' '.join(where)}; allowed: {', '.join(sorted(keys))}")
                _config_value(f"[{'.'.join(where)}]", key, *keys[key], item)  # its type, whichever command runs
            check_sections(value, where)

    check_sections(data, ())
    everywhere = set().union(*(option_keys(c) for c in commands.values()))
    for key, value in data.items():
        if not isinstance(value, dict) and key not in everywhere:
            raise UserError(f"config: {path}: global key {key!r} is not an option of any command; allowed: "
                            f"{', '.join(sorted(everywhere))}")
    keys = option_keys(ctx.command)
    defaults: dict[str, Any] = {}
    for where, values in (("global", _section(data, [])), (f"[{'.'.join(here)}]", _section(data, list(here)))):
        for key, value in values.items():
            if key in keys:  # a global key of another command only
                param, inverted = keys[key]
                defaults[param.name] = _config_value(where, key, param, inverted, value)
    return defaults


def _use_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.default_map = {**(ctx.default_map or {}), **read_config(ctx, value)}


def with_config_option(command: click.Command) -> click.Command:
    """Give ``command`` (and, for a group, each of its commands) the --config option, once."""
    if not any(p.name == "config" for p in command.params):
        # eager: the file's values are the defaults before any other option is read
        command.params.insert(0, click.Option(["--config"], metavar="FILE.toml", is_eager=True, expose_value=False,
                                              callback=_use_config, help=CONFIG_HELP))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_config_option(sub)
    return command


class LazyGroup(click.Group):
    """The root group: commands come from COMMANDS, each module imported when its command is needed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        # Known before any command module is imported, so that --debug covers that import too.
        ctx.ensure_object(CliState).debug = bool(ctx.params.get("debug"))
        return rest

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module = f"accelbench.cli.{COMMANDS[name].module}"
            importlib.import_module(module)  # registers its commands on `app`
            if name not in self.commands:
                raise RuntimeError(f"{module} does not define the command {name!r} that COMMANDS lists")
        command = self.commands.get(name)
        return with_config_option(command) if command is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # As click lists commands, from the summaries: listing imports no command module.
        names = [n for n in self.list_commands(ctx) if n in self.commands or n in COMMANDS]
        shown = [(n, self.commands.get(n) or click.Command(n, help=COMMANDS[n].summary)) for n in names]
        shown = [(n, cmd) for n, cmd in shown if not cmd.hidden]
        if shown:
            limit = formatter.width - 6 - max(len(n) for n, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(n, cmd.get_short_help_str(limit)) for n, cmd in shown])


@click.group(
    name="accelbench", cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--debug", is_flag=True, help="Show full tracebacks for unexpected errors.")
@click.version_option(__version__, prog_name="accelbench")
def app(debug: bool) -> None:
    """Which inference accelerator is best for YOUR network: peak TOPS, ResNet-50 done right,
    real-world models, your own model; measured here, and projected onto devices you do not own."""
    # --debug is read when the options are parsed (LazyGroup.parse_args), into the context object.


EXIT_TERMINATED = 128 + signal.SIGTERM
USER_ERROR_CHARS = 2000  # a value echoed back (a 5,000-digit size) cannot flood the terminal


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that cleanup runs (not an Exception: nothing swallows it)."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _terminate_as_exception():
    """While the command runs, SIGTERM raises Terminated (Python's default would end the process
    without running a single ``finally``). Only the main thread can install signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _show_warning(message, category, filename, lineno, file=None, line=None, *, _default=warnings.showwarning):
    if issubclass(category, AccelbenchWarning):
        click.echo(f"warning: {one_line(message, USER_ERROR_CHARS)}", err=True)  # room for 10 record ids
    else:
        _default(message, category, filename, lineno, file, line)


def _usage_error_line(exc: click.ClickException) -> str:
    """click's error as one line: its message, and where help is (click prints a usage block and
    "Error:" on separate lines)."""
    text = one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        text = f"{text.rstrip('.')} (see {ctx.command_path} --help)"
    return text


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and map errors to exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = CliState()
    try:
        with warnings.catch_warnings(), _terminate_as_exception():
            warnings.showwarning = _show_warning
            result = app.main(args=args, prog_name="accelbench", standalone_mode=False, obj=state)
        code = result if isinstance(result, int) else 0
    except UserError as exc:
        if state.debug:
            raise
        click.echo(f"error: {one_line(exc, USER_ERROR_CHARS)}", err=True)  # one line, whatever was interpolated
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = 130
    except click.ClickException as exc:
        click.echo(f"error: {_usage_error_line(exc)}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    except Terminated:
        click.echo("terminated (SIGTERM)", err=True)
        code = EXIT_TERMINATED
    except Exception as exc:  # the one place unexpected errors become exit code 1
        if state.debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {one_line(exc)} (rerun with --debug for the traceback)",
                   err=True)
        code = 1
    sys.exit(code)
