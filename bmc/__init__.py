"""BMC: Bridging and Modeling Correlations in pairwise data for DPO (replication suite)."""

__version__ = "0.1.0"
