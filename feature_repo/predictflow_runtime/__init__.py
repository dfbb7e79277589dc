"""The Feast runtime shared by the materialization jobs and the serving pods.

store        open a FeatureStore with a registry derived from the repo's definitions at start
materialize  the CLI the CronJob and backfill Jobs run (`python -m predictflow_runtime.materialize`)
watermark    materialization watermarks kept in the online store itself
freshness    the pub/sub freshness message sent after each run
connection   redis-py clients from a Feast connection string
datagen      deterministic example data for the offline store
"""
