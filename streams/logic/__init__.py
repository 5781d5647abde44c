"""Plain business logic of the stream stage (no Kafka, no Faust): validate, dedupe, enrich,
and the per-event function that ties them together."""
