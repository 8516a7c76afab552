"""Data sources: the video cache, clip datasets and the validation split, and classical optical flow."""
