"""The training stack shared by every learned model: windows, losses, optimiser, checkpoints, loop."""
