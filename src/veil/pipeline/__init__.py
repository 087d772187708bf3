"""veil.pipeline"""
