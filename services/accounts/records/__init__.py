"""Account records: identifiers, the sealed personal data, lookups by blind index."""
