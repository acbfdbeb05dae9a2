"""TensorBoard (logger=[jsonl,tensorboard]): the scalars of metrics.jsonl under the same names, eval metrics
under eval/, sample grids, and the composed config as text, in RUN_DIR/tensorboard. A resumed run appends
to the same directory: the writer purges what a killed run logged at or after the first step it logs again,
so no step appears twice (resume truncates metrics.jsonl the same way). Needs the tensorboard package
(pip install 'ganlab[tensorboard]')."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ganlab.registry import LOGGERS

FOLDER = "tensorboard"


class TensorBoardLogger:
    def __init__(self, run_dir: Path, config: dict, flush_secs: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("logger=tensorboard needs the tensorboard package: pip install 'ganlab[tensorboard]'") from None
        self.make_writer, self.flush_secs = SummaryWriter, flush_secs
        self.log_dir, self.config = Path(run_dir) / FOLDER, config
        self.writer = None

    def _writer(self, step: int):
        """Opened at the first step this process logs: anything logged at or after it before is purged."""
        if self.writer is None:
            self.writer = self.make_writer(str(self.log_dir), purge_step=step, flush_secs=self.flush_secs)
            self.writer.add_text("config", "```\n" + json.dumps(self.config, indent=2, default=str) + "\n```", step)
        return self.writer

    def _scalars(self, row: dict, prefix: str = "") -> None:
        step = int(row["step"])
        writer = self._writer(step)
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(prefix + key, value, step)

    def log(self, row: dict) -> None:
        self._scalars(row)

    def log_images(self, name: str, path: Path, step: int) -> None:
        image = np.asarray(Image.open(path).convert("RGB"))
        self._writer(int(step)).add_image(name, image, int(step), dataformats="HWC")

    def log_eval(self, result: dict) -> None:
        self._scalars(result, "eval/")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@LOGGERS.register("tensorboard")
def tensorboard_logger(run_dir: Path, config: dict, sweep: str | None = None, *, flush_secs: int) -> list:
    """Event files in RUN_DIR/tensorboard (`tensorboard --logdir RUN_OR_SWEEP_DIR`). The defaults live in
    conf/logger/tensorboard.yaml."""
    return [TensorBoardLogger(run_dir, config, flush_secs)]
