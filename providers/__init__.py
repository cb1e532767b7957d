"""Cluster providers: the contract (base), the registry, the ledger and one module per provider."""
