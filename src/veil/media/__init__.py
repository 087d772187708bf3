"""veil.media"""
