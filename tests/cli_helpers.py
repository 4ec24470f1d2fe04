"""Helpers shared by CLI tests (imported as a plain module: pytest puts tests/ on sys.path)."""

from accelbench.cli import main


def cli_exit_code(argv) -> int:
    """Run the CLI in-process; its exit code (main always ends with sys.exit)."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code
    return 0
