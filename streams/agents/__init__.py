"""Faust agents of the stream stage, one module per domain."""
