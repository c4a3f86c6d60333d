"""What SFT and preference training share around their trainers: the launcher (launch.py), the trainer options
checked at parse time (options.py, trainer_fields.json), trainer arguments (arguments.py), checkpoints, resume and
the final folder (run.py); and the SFT trainer (sft.py). The preference method itself is in bmc.alignment."""
