"""The paper's quantitative analyses, one module each (`bmc.analysis.<name>`), run by `bmc.stages.analysis`."""

# every analysis, by the name of its module, figure and config entry (`analysis.names`)
ANALYSES = (
    "fig2_span_surprise",
    "sec53_reward",
    "token_dynamics",
    "bridging_cost",
    "diff_algorithm",
    "sec31_similarity",
    "fig3_bridged_proportion",
    "delta_sensitivity",
    "fig5_edit_distance",
)
