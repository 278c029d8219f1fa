"""Encrypted individual-level storage: per-subject keys (key store, master key, rotation), the vault of sealed records, crypto-shredding on expiry, encrypted exports."""
