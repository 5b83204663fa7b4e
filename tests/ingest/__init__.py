"""Tests of cascade_rt.ingest and cascade_rt.observe."""
