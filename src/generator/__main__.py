"""The `betagen` command and `python -m generator`."""

import gc


def run() -> None:
    # A run is short and keeps most of what it allocates until it exits. The cycle collector's passes
    # over that heap cost about a tenth of `betagen new` and free little, so they run rarely (as in
    # mypy); and at exit, where Python would collect every cycle once more just before the process ends
    # (a fifth of `betagen new`), the objects are frozen out of its reach. Files are closed as they are
    # written and atexit handlers still run.
    gc.set_threshold(200_000, 30, 30)
    from generator.cli.commands import main

    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    run()
