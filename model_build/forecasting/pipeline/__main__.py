"""``python -m forecasting.pipeline upsert [--start] [--wait]``: see :mod:`.runner`."""

from forecasting.pipeline.runner import main

main()
