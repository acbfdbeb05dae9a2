"""Official checkpoints of other GAN code bases -> ganlab state dicts, one module per source.

Each source module holds facts about the official layout (`ARCHS`: ganlab model name -> Arch, and `READ_KEY`,
the file's entry holding the state dict); importers/common.py ports and checks. ganlab-import (cli/import_.py)
writes the run directory.
"""
from ganlab.importers import biggan_pytorch, unetgan

SOURCES = {"biggan-pytorch": biggan_pytorch, "unetgan": unetgan}
