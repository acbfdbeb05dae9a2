"""Official checkpoints of other GAN code bases -> ganlab state dicts, one module per source.

Each source module holds facts about the official layout: `ARCHS` (ganlab model name -> Arch), `READ_KEY` (the
file's entry holding the state dict) and `safe_globals()` (data types its files may hold besides tensors).
importers/common.py ports and checks; ganlab-import (cli/import_.py) writes the run directory.
"""
from ganlab.importers import biggan_pytorch, studiogan, unetgan

SOURCES = {"biggan-pytorch": biggan_pytorch, "studiogan": studiogan, "unetgan": unetgan}
