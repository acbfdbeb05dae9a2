"""ganlab: a Hydra-configured GAN experiment framework."""
from pathlib import Path

# The config groups, found from the package (never from the working directory), so ganlab-train and
# +experiment=NAME work from any folder.
CONF_DIR = Path(__file__).resolve().parent / "conf"
