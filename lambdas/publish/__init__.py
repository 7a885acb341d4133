"""Publish Batch Transform forecasts as a partitioned, QuickSight-ready data set."""
