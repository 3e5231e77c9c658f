"""Tools beside the pipeline: the benchmark (``python -m ddb.tools.bench``), report screenshots
(``python -m ddb.tools.screenshot``) and the site's values in the SLURM profile (``python -m ddb.tools.slurm_profile``)."""
