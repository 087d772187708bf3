"""veil.results"""
