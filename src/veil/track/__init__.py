"""veil.track"""
