"""The plan: the config's runs and their paths (runs.py), the analyses' inputs and sweeps (analyses.py), each
rule's cluster resources and launcher (cluster.py) and what a run costs (cost.py, cost_training.py)."""
