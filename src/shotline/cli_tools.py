"""Offline CLI verbs that need no stack (added as the libraries behind them land)."""
