"""From raw line to vault-ready rows: the event contract, reading raw files, validation and quarantine, pseudonyms, generalisation of structured fields, partitions."""
