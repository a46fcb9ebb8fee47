"""Software-defined assets, one module per domain, in the order data flows."""
