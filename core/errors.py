"""The project's one root exception and its few families.

Third-party errors are wrapped where they enter (``raise X(...) from exc``); messages say what
to fix, never carry personal data.
"""


class FieldstreamError(Exception):
    """Root of every error fieldstream raises on purpose."""


class ConfigError(FieldstreamError):
    """A setting or config file is missing or wrong; the message names it."""


class SchemaError(FieldstreamError):
    """A record does not fit the data standard, or bytes cannot be decoded."""


class BrokerError(FieldstreamError):
    """Kafka (Tansu or Apache Kafka) refused or failed a request."""


class StoreError(FieldstreamError):
    """ClickHouse (chDB or server) refused or failed a request."""


class InputError(FieldstreamError):
    """A file given by a data manager (voter file, goals, universe) has bad rows."""
