"""What may be kept and used: consent per purpose, retention, erasure, the consented datasets, the hash-chained audit log, policy review tools, subject access."""
