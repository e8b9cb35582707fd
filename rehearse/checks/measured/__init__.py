"""Measured rules on traced statements (RH2xx): locks held, rewrites, durations, probes."""
