"""What every stage shares: atomic outputs, settings from the schema, logging and progress, the Parquet tables that
connect the stages, and the images they read."""
