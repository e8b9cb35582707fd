"""Rules on the database after an upgrade, drift and invariants (RH4xx)."""
