"""Everything that puts events on Kafka: gateway, voter-file loader, demo, simulator."""
