"""The report's figures, one module per figure (``python -m ddb.figures.<figure>``), so that editing one figure
redraws only that figure."""
