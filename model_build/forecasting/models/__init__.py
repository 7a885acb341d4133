"""Forecasting models: one folder per family (see family.py), and the parts they share."""
