"""The `batmond` command (the console script, `python -m batmond`, the single binary and the Debian package)."""

import sys

from batmond import early


def main() -> int:
    if sys.argv[1:2] == ["run"]:
        early.hold()  # before the imports below: they alone take a tenth of a second
    try:
        from batmond.cli import main as cli_main

        return cli_main(sys.argv[1:])
    except early.StopRequested as stop:
        print(f"batmond: {stop}", file=sys.stderr, flush=True)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
