"""Reading datasets for training: windows of frames, splits, revisit statistics."""
