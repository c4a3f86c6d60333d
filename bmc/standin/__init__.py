"""Stand-ins for the outside services the paper-scale run calls (an OpenAI-compatible endpoint, the hub's
AlpacaEval files), so that the whole paper-scale path can be rehearsed offline. Their answers are
deterministic and plausible in form, never in quality: numbers made with them test the pipeline only."""
