"""The write-back to VAN: contacts.enriched -> VAN's canvassResponses, once each knowingly."""
