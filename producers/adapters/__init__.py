"""One adapter per field tool: tool payload -> canonical events (see base.py)."""
