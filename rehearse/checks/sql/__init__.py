"""Static rules on executed SQL, one rule per module (RH1xx)."""
