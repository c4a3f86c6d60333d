"""LLM calls shared by the bridging phase and the judge: clients (`clients`) and the response cache (`cache`)."""
