"""veil.redact"""
