"""``python -m local_mode <command>`` (see :mod:`local_mode.cli`)."""

from local_mode.cli import main

if __name__ == "__main__":
    main()
