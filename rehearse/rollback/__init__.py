"""Rollback proof: fingerprints of schema and data before the upgrade and after the downgrade.

fingerprint.py owns the schema picture and its diff, data.py the row counts and checksums,
classify.py what a downgrade() body is, verify.py the verdict of one step.
"""
