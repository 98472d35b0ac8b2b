"""GenStudio: a desktop studio for training, inspecting and evaluating generative models."""

__version__ = "0.1.0"
