"""Images, MATLAB-compatible bicubic, SR metrics, datasets and evaluation: numpy/torch, no Optuna."""
