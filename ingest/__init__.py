"""ai-me ingestion: parsers that turn message exports into raw Parquet in the warehouse."""
