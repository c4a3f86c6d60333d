"""ORPO (Hong et al. 2024) and ORPO-BMC (Table 5): reference-free, rewards normalised by length, the chosen
response's NLL plus λ times the odds-ratio term."""

from bmc.alignment.method_spec import Hyperparameter, Objective


def loss(terms, hp):
    from bmc.alignment.objective import orpo_loss

    return orpo_loss(terms, hp)


METHOD = Objective(
    name="ORPO",
    loss=loss,
    variants=("BMC",),
    reference=False,
    reward="length_normalised",
    hyperparameters={
        "lambda": Hyperparameter(
            float,
            None,
            gt=0.0,
            help="λ, the weight of the odds-ratio term; None: β, as the released code and TRL",
        )
    },
)
