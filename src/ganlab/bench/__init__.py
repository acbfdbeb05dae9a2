"""Benchmarks, each a feature of its own behind `ganlab-bench` (cli/bench.py parses the arguments):
data (the image-folder paths against torchvision's), step (training img/s per recipe and setting, the
trainer's overhead, scaling), recipes (the preset suites trained and scored against their bar), gpu
(every GPU figure from one call), and yardstick (the plain PyTorch loop every timing is printed beside)."""
