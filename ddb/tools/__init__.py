"""Tools beside the pipeline: the benchmark (``python -m ddb.tools.bench``) and report screenshots
(``python -m ddb.tools.screenshot``)."""
