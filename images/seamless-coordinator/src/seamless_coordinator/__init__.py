"""Seamless backfill coordinator: the distributed lease service QMTL's DistributedBackfillCoordinator calls."""
