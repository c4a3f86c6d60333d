"""The paper rehearsal: every rule and code path of the paper scale, run on a CPU without network.

`workflow/config/paper_rehearsal.yaml` over `paper.yaml` changes only what cannot exist offline on a CPU: tiny
random Llamas stand in the hub models (in a hub cache the jobs read with `HF_HUB_OFFLINE=1`), a local git
repository in the layout of the authors' release stands in GitHub (with its own manifest of checksums), small
files stand in the reference answers and UltraFeedback, and an OpenAI-compatible server on loopback stands in
the GPT-4 editor and judges (`bmc.rehearsal.fixtures` builds the files, `bmc.rehearsal.session` runs the server
for the length of the Snakemake run). Its numbers mean nothing; it proves the paper DAG runs.
"""
