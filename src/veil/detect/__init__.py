"""veil.detect"""
