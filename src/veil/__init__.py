"""veil"""
