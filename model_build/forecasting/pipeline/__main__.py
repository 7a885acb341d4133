"""``python -m forecasting.pipeline upsert [--start] [--wait]``: see :mod:`.codebuild`."""

from forecasting.pipeline.codebuild import main

main()
