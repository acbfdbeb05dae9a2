"""Weights & Biases tracking (logger=wandb): the composed config, every metrics line, sample grids,
eval metrics and the run directory. mode=offline writes the run under RUN_DIR/wandb for a later
`wandb sync`; multirun jobs share a group named after the sweep. The wandb run id is kept in
RUN_DIR/wandb_run_id, so a resumed ganlab run continues the same wandb run."""
from __future__ import annotations

import secrets
from pathlib import Path

from ganlab.registry import LOGGERS

ID_FILE = "wandb_run_id"


class WandbLogger:
    def __init__(self, run_dir: Path, config: dict, mode: str, project: str, entity: str | None, group: str | None,
                 tags: list | None):
        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"unknown logger.wandb.mode '{mode}'; available: online, offline, disabled")
        try:
            import wandb
        except ImportError:
            raise ImportError("logger=wandb needs the wandb package: pip install 'ganlab[wandb]'") from None
        self.wandb = wandb
        run_dir = Path(run_dir)
        id_file = run_dir / ID_FILE
        if id_file.is_file():
            run_id = id_file.read_text().strip()
        else:
            run_id = secrets.token_hex(4)   # wandb accepts any short [a-z0-9] id
            run_dir.mkdir(parents=True, exist_ok=True)
            id_file.write_text(run_id + "\n")
        self.run = wandb.init(dir=str(run_dir), mode=mode, project=project, entity=entity, group=group,
                              tags=list(tags or []), name=run_dir.name, config={**config, "run_dir": str(run_dir)},
                              id=run_id, resume="allow")

    def log(self, row: dict) -> None:
        self.run.log({k: v for k, v in row.items() if k != "step"}, step=int(row["step"]))

    def log_images(self, name: str, path: Path, step: int) -> None:
        self.run.log({name: self.wandb.Image(str(path))}, step=int(step))

    def log_eval(self, result: dict) -> None:
        values = {f"eval/{k}": v for k, v in result.items() if isinstance(v, (int, float)) and k != "step"}
        self.run.log(values, step=int(result["step"]))

    def close(self) -> None:
        self.run.finish()


@LOGGERS.register("wandb")
def wandb_logger(run_dir: Path, config: dict, sweep: str | None = None, *, mode: str, project: str,
                 entity: str | None, group: str | None, tags: list | None) -> list:
    """A wandb run; group null: multirun jobs share one named after the sweep. The defaults live in
    conf/logger/wandb.yaml."""
    return [WandbLogger(run_dir, config, mode, project, entity, group or sweep, tags)]
