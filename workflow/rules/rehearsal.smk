# The paper rehearsal (workflow/config/paper_rehearsal.yaml over paper.yaml; bmc.rehearsal): its stand-ins for the
# hub, the authors' repository and the reference answers are built before the config is checked and fill in the
# release's url, commit and manifest; for the length of the run, a stand-in OpenAI-compatible server on loopback
# answers the GPT-4 editor and the judges. Without a `rehearsal` section this does nothing.
import sys

sys.path.insert(0, workflow.basedir)
from bmc.rehearsal import session as rehearsal  # noqa: E402

REHEARSAL = rehearsal.setup(config)  # None without a `rehearsal` section


onstart:
    if REHEARSAL is not None:
        REHEARSAL.start()


onsuccess:
    if REHEARSAL is not None:
        REHEARSAL.stop()


onerror:
    if REHEARSAL is not None:
        REHEARSAL.stop()
