"""fieldstream: real-time voter-contact ingestion. This package holds only the command line,
shared settings and the project's root exception; the pipeline lives in producers/, schemas/,
streams/ and sinks/."""

__version__ = "0.1.0"
