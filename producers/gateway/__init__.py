"""The webhook gateway (ASGI): tool payloads in, Avro on contacts.raw out."""
