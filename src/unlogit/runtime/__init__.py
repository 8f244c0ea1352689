"""Run-time plumbing: checkpoints, run directories, seeding, devices, distributed training."""
