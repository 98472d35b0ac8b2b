"""GenStudio's built-in model families, each written exactly like a third-party plugin."""
