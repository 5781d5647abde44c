"""Shared test factories: records (contact events, voters), a stream worker run as a
subprocess and Kafka helpers, and the demo store the board tests read. One place, so a change
to the standard changes one factory."""
